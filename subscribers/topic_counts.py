"""The dashboard's subscribers per topic: counted while the page loads when the subscriptions are few, else kept.

Counting every subscription by topic and status takes a third of a second over a million of them (docs/BENCHMARKS.md,
"The admin over a million subscribers"), on a page everyone in the team opens first. When the table holds more than
``TOPIC_COUNTS_INLINE_MAX`` rows (PostgreSQL's own estimate, read at no cost), the panel shows the counts kept by a
task on the ``default`` queue, with the moment they were counted, and has them counted again when they are older
than ``TOPIC_COUNTS_FRESH_SECONDS``; the first time, it counts while the page loads and keeps the answer.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from subscribers.kept_counts import kept_read, kept_store, table_estimate
from subscribers.models import Subscription
from subscribers.selectors import topic_subscription_counts

KEY = "topic-subscription-counts"
TOPIC_COUNTS_FRESH_SECONDS = 60


@dataclass(frozen=True)
class TopicCounts:
    topics: list[dict]  # each topic's pk, name, is_active, active_count and pending_count
    counted_at: datetime
    counting: bool  # a newer count is running
    inline: bool  # counted while the page loaded


def _count() -> list[dict]:
    return list(topic_subscription_counts().values("pk", "name", "is_active", "active_count", "pending_count"))


def topic_counts() -> TopicCounts:
    """Subscribers per topic for the dashboard, counted now or kept (see the module's docstring)."""
    estimate = table_estimate(Subscription)
    if estimate is None or estimate <= settings.TOPIC_COUNTS_INLINE_MAX:
        return TopicCounts(topics=_count(), counted_at=timezone.now(), counting=False, inline=True)

    def start() -> None:
        from subscribers.tasks import topic_counts_task

        topic_counts_task.delay()

    kept = kept_read(KEY, fresh_seconds=TOPIC_COUNTS_FRESH_SECONDS, start=start)
    if kept.value is None:  # never counted (or the cache was emptied): count now, once, and keep it
        topics = topic_counts_store()
        return TopicCounts(topics=topics, counted_at=timezone.now(), counting=False, inline=False)
    return TopicCounts(topics=kept.value, counted_at=kept.counted_at, counting=kept.counting, inline=False)


def topic_counts_store() -> list[dict]:
    """Count now and keep the answer for the dashboard (the background count)."""
    return kept_store(KEY, _count)
