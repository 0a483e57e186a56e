"""The send page's audience counts: counted while the page loads for an audience of ordinary size, in the background
for a large one, and always shown with the moment they were counted.

``audience_summary`` is one query, but over a million people on the topics it takes seconds (docs/BENCHMARKS.md),
and the page must answer at once. So an audience with more than ``AUDIENCE_COUNT_INLINE_MAX`` subscriptions on its
topics is counted by a task on the ``default`` queue; its answer is kept in the cache for a day, keyed by what it
counted (the topics, the segment's definition, the frequency cap), and used while it is younger than
``AUDIENCE_COUNT_FRESH_SECONDS``. After that the page shows it with its age while a new count runs, and the marketer
can ask for a recount. Only one count of the same audience runs at a time. The counts are a preview: the send itself
writes its audience in its own transaction, with the rules applied at that moment.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from campaigns.sending.audience import audience_summary
from subscribers.kept_counts import kept_read, kept_store
from subscribers.models import Subscription


@dataclass(frozen=True)
class AudienceCount:
    summary: dict | None  # None: not counted yet (a count is running)
    counted_at: datetime | None
    counting: bool  # a count is running (the summary, if any, is older)
    size: int  # subscriptions on the topics, the size that decided where it is counted

    @property
    def age_seconds(self) -> int | None:
        return None if self.counted_at is None else int((timezone.now() - self.counted_at).total_seconds())


def _key(topic_ids: list[int], segment_definition) -> str:
    what = json.dumps([sorted(topic_ids), segment_definition, settings.SEND_FREQUENCY_CAP], sort_keys=True)
    return "audience-count:" + hashlib.sha256(what.encode()).hexdigest()


def audience_count(*, topic_ids: list[int], segment_definition=None, recount: bool = False) -> AudienceCount:
    """The audience's counts for the send page: counted now when the topics hold at most
    ``AUDIENCE_COUNT_INLINE_MAX`` subscriptions, else the last background count (starting one when there is none,
    it is older than ``AUDIENCE_COUNT_FRESH_SECONDS``, or ``recount``). A segment that does not check raises
    ``SegmentError``, as ``audience_summary`` does."""
    size = Subscription.objects.filter(topic_id__in=topic_ids).count()
    if size <= settings.AUDIENCE_COUNT_INLINE_MAX:
        summary = audience_summary(topic_ids=topic_ids, segment_definition=segment_definition)
        return AudienceCount(summary=summary, counted_at=timezone.now(), counting=False, size=size)

    def start() -> None:
        from campaigns.tasks import audience_count_task

        audience_count_task.delay(topic_ids=list(topic_ids), segment_definition=segment_definition)

    kept = kept_read(
        _key(topic_ids, segment_definition),
        fresh_seconds=settings.AUDIENCE_COUNT_FRESH_SECONDS,
        start=start,
        recount=recount,
    )
    return AudienceCount(summary=kept.value, counted_at=kept.counted_at, counting=kept.counting, size=size)


def audience_count_store(*, topic_ids: list[int], segment_definition=None) -> dict:
    """Count the audience now and keep the answer for the send page (the background count)."""
    return kept_store(
        _key(topic_ids, segment_definition),
        lambda: audience_summary(topic_ids=topic_ids, segment_definition=segment_definition),
    )
