"""Where a send worker's next claim begins.

The claim takes the first queued rows of a send in id order. Searched from the front of the queue, it reads past
every row already claimed, which grows with the send: a million by the end of a million-recipient send. How costly
that is depends on the planner's statistics, which PostgreSQL refreshes only when autovacuum analyzes the table:
with statistics taken when the audience was first written (everything queued), the planner walks the primary key
from the first row and filters, and late in a million-recipient send one claim read 877,000 rows (1.7 s). Even
with fresh statistics, the (send, state, id) index keeps the entry of every row claimed, dead, until autovacuum
removes it. A worker therefore goes on from the last row it claimed, which reads past only the rows the other
workers claimed since, whatever the plan.

Rows can also come back behind that position: a retry after its backoff, rows a stopping worker gave back, rows the
sweeper took back from a lost worker. A search from the front finds them; a worker makes one for its first claim
and whenever going on finds nothing, so they are sent when the worker reaches the end of the queue (and at once by
a worker that starts meanwhile).
"""

from collections.abc import Callable


class ClaimPosition:
    """One worker's position in one send's queue (in-process only: a new worker starts from the front)."""

    def __init__(self):
        self.after_id = 0  # the highest row this worker has claimed

    def claim(self, claim_after: Callable[[int], list[int]]) -> list[int]:
        """Claim with ``claim_after(after_id)``, which returns the ids claimed in ascending order."""
        ids = claim_after(self.after_id) if self.after_id else []
        if not ids:
            ids = claim_after(0)
        if ids:
            # A search from the front that found rows put back keeps the position ahead of them.
            self.after_id = max(self.after_id, ids[-1])
        return ids
