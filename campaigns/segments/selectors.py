"""Reads over a segment: how many people it selects, and a few of them (the editor's live count and sample)."""

from django.db.models import QuerySet

from campaigns.segments.compiler import segment_q
from subscribers.models import Subscriber

SAMPLE_MAX = 20


def segment_subscribers(definition) -> QuerySet[Subscriber]:
    """Every subscriber ``definition`` selects (whatever their topics, consent or suppression: the audience of a
    send applies those after the segment). Raises ``SegmentError`` for a definition the grammar refuses."""
    return Subscriber.objects.filter(segment_q(definition))


def segment_count(definition) -> int:
    """How many subscribers ``definition`` selects: one ``SELECT COUNT(*)`` of semi-joins."""
    return segment_subscribers(definition).count()


def segment_sample(definition, n: int = 5) -> list[Subscriber]:
    """Up to ``n`` (at most 20) subscribers ``definition`` selects, the most recent sign-ups first. Personal data:
    show it only to staff allowed to see subscribers."""
    n = max(0, min(n, SAMPLE_MAX))
    return list(segment_subscribers(definition).order_by("-pk")[:n])
