"""A send's report over a large ledger: counted in the background, kept, and shown with the moment it was counted.

Over a million rows, the report's counts and its timeline take seconds (docs/BENCHMARKS.md, "The admin over a million
subscribers"), and the report page must answer at once. So a send of more than ``REPORT_INLINE_MAX`` recipients has
them counted by a task on the ``default`` queue, kept for a day, and used while younger than
``REPORT_FRESH_SECONDS``; after that the page shows them with their age while a new count runs, and staff can ask
for a recount. The link click counts and opens are read live either way (one row per link, one per send).
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from campaigns.models import Send
from campaigns.results.report import send_ledger_counts, send_timeline
from subscribers.kept_counts import kept_read, kept_store


@dataclass(frozen=True)
class SendResults:
    ledger: dict | None  # the report's ledger counts (send_ledger_counts); None: the first count is running
    timeline: dict | None  # send_timeline's series
    counted_at: datetime | None
    counting: bool  # a count is running (what is shown, if anything, is older)
    inline: bool  # counted while the page loaded

    @property
    def age_seconds(self) -> int | None:
        return None if self.counted_at is None else int((timezone.now() - self.counted_at).total_seconds())


def _key(send_id: int) -> str:
    return f"send-results:{send_id}"


def send_results(*, send: Send, recount: bool = False) -> SendResults:
    """The counts and timeline of ``send``'s report: counted now for a send of at most ``REPORT_INLINE_MAX``
    recipients, else the last background count (starting one when there is none, it is older than
    ``REPORT_FRESH_SECONDS``, or ``recount``)."""
    if send.total <= settings.REPORT_INLINE_MAX:
        return SendResults(
            ledger=send_ledger_counts(send=send),
            timeline=send_timeline(send=send),
            counted_at=timezone.now(),
            counting=False,
            inline=True,
        )

    def start() -> None:
        from campaigns.tasks import send_results_count_task

        send_results_count_task.delay(send_id=send.pk)

    kept = kept_read(_key(send.pk), fresh_seconds=settings.REPORT_FRESH_SECONDS, start=start, recount=recount)
    ledger, timeline = kept.value if kept.value is not None else (None, None)
    return SendResults(ledger, timeline, counted_at=kept.counted_at, counting=kept.counting, inline=False)


def send_results_store(*, send_id: int) -> dict:
    """Count a send's report now and keep it for the report page (the background count). Returns the counts."""
    send = Send.objects.get(pk=send_id)
    ledger, _ = kept_store(_key(send_id), lambda: (send_ledger_counts(send=send), send_timeline(send=send)))
    return ledger
