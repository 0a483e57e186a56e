"""What a segment definition got wrong, and where."""

from campaigns.errors import CampaignError


class SegmentError(CampaignError):
    """A segment definition was refused. ``path`` names the node (``all.2.any.0``; ``definition`` for the root),
    ``problem`` says what is wrong with it, and the message is both: ``all.2.any.0: unknown operator ...``."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path or "definition", problem
        super().__init__(f"{self.path}: {problem}")
