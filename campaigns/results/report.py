"""Reads for a send's report: aggregates only, never a person (DESIGN.md section 7), and its timeline."""

import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.db.models.functions import TruncDay, TruncHour, TruncMinute, TruncSecond
from django.utils import timezone

from campaigns.models import BounceType, Delivery, DeliveryState, Send, TrackedLink
from campaigns.results.clicks import CLICK_RECIPIENT_FIELD
from campaigns.results.tally import tally_flush
from subscribers.models import ConsentAction, ConsentEvent, ConsentSource

logger = logging.getLogger(__name__)

EMAIL_UNSUBSCRIBE_SOURCES = (ConsentSource.EMAIL_LINK, ConsentSource.ONE_CLICK, ConsentSource.PREFERENCE_CENTRE)


def count_hidden(count: int) -> bool:
    """Whether a count is too small a group to show: 1 to REPORT_MIN_GROUP_SIZE - 1 people. Zero singles out
    nobody, so it shows."""
    return 0 < count < settings.REPORT_MIN_GROUP_SIZE


def count_shown(count: int) -> str:
    """A count as the marketing team may see it: 0, or "<5" for 1 to 4 people, or the count with thousands
    separators."""
    return f"<{settings.REPORT_MIN_GROUP_SIZE}" if count_hidden(count) else f"{count:,}"


def count_why(count: int) -> str:
    """Why a count is not shown, for a tooltip: empty when it shows."""
    if count_hidden(count):
        return f"Hidden: fewer than {settings.REPORT_MIN_GROUP_SIZE} people, so it could single someone out."
    return ""


# Secondary suppression: a count that shows is hidden too when, with the counts shown beside it, it would give away a
# hidden one by subtraction (bounced - hard bounces = soft bounces; all clicks - the links shown = the hidden link).
WITHHELD_WHY = (
    "Hidden: with the numbers shown beside it, it would give away a count of fewer than {minimum} people by "
    "subtraction."
)
# The outcomes of a send's rows besides "sent": their sum is known from the total, sent and rows still waiting, so
# when exactly one of them is hidden, the smallest other one is hidden too.
OUTCOME_COUNTS = ("failed", "skipped", "unknown")


def _withheld_why() -> str:
    return WITHHELD_WHY.format(minimum=settings.REPORT_MIN_GROUP_SIZE)


def sum_withheld(total: int, parts: list[int]) -> bool:
    """Whether a shown ``total`` of ``parts`` must be hidden: exactly one part is hidden, so the total minus the
    other parts would be it."""
    return not count_hidden(total) and sum(1 for part in parts if count_hidden(part)) == 1


def outcomes_withheld(counts: dict) -> dict[str, str]:
    """{name: why} for the outcome counts (failed, skipped, unknown) that show but must be hidden: when exactly one
    of them is hidden, the smallest of the others too, so that neither can be worked out from the total."""
    hidden = [name for name in OUTCOME_COUNTS if count_hidden(counts[name])]
    if len(hidden) != 1:
        return {}
    other = min((name for name in OUTCOME_COUNTS if name not in hidden), key=lambda name: counts[name])
    return {other: _withheld_why()}


def _percent_text(value: float) -> str:
    """A rate as a percentage: two decimals below 1% (complaint rates live there: SES's limit is 0.1%), else one."""
    if value == 0:
        return "0%"
    return f"{value:.2f}%" if value < 1 else f"{value:.1f}%"


# The rates a report shows: (name, numerator in ``counts``); every one is out of the messages SES accepted.
REPORT_RATES = (
    ("delivered", "delivered"),
    ("bounced", "bounced"),
    ("complained", "complained"),
    ("clicked", "clicked"),
    ("unsubscribed", "unsubscribed"),
)


def rate_shown(numerator: int, denominator: int) -> dict:
    """A rate as the marketing team may see it: ``{"shown", "hidden", "why", "hint"}``.

    Hidden, like a count, when the people it is about are 1 to 4 (the numerator), and when the whole group is that
    small (the denominator): a percentage of a small group gives away its count. ``why`` says which, for a
    tooltip, and ``hint`` in a few words, shown under it (a phone has no hover); both are empty when the rate
    shows.
    """
    minimum = settings.REPORT_MIN_GROUP_SIZE
    if denominator == 0:
        why = "No message was accepted by SES, so there is no rate."
        return {"shown": "\u2013", "hidden": False, "why": why, "hint": ""}
    if count_hidden(denominator):
        why = f"Hidden: fewer than {minimum} messages were accepted, and a rate would give away who is behind it."
        return {"shown": "hidden", "hidden": True, "why": why, "hint": f"Fewer than {minimum} messages in all"}
    if count_hidden(numerator):
        why = f"Hidden: fewer than {minimum} people are behind this rate, so it could single someone out."
        return {"shown": "hidden", "hidden": True, "why": why, "hint": f"Fewer than {minimum} people behind it"}
    return {"shown": _percent_text(100 * numerator / denominator), "hidden": False, "why": "", "hint": ""}


def _unsubscribed_after() -> Exists:
    """For a delivery row: its recipient withdrew through an email's link after it and before any later one."""
    later_message = Delivery.objects.filter(
        subscriber_id=OuterRef(OuterRef("subscriber_id")),
        state=DeliveryState.SENT,
        finished_at__gt=OuterRef(OuterRef("finished_at")),
        finished_at__lt=OuterRef("occurred_at"),
    )
    return Exists(
        ConsentEvent.objects.filter(
            subscriber_id=OuterRef("subscriber_id"),
            action=ConsentAction.WITHDRAWN,
            source__in=EMAIL_UNSUBSCRIBE_SOURCES,
            occurred_at__gt=OuterRef("finished_at"),
        ).exclude(Exists(later_message))
    )


def ledger_outcome_counts() -> dict[str, Count]:
    """The counts of a report, as aggregates over a ledger's rows: a campaign's deliveries, or an automation's (the
    same columns). For ``aggregate`` or ``annotate``."""
    return {
        "recipients": Count("pk"),
        "sent": Count("pk", filter=Q(state=DeliveryState.SENT)),
        "failed": Count("pk", filter=Q(state=DeliveryState.FAILED)),
        "skipped": Count("pk", filter=Q(state=DeliveryState.SKIPPED)),
        "unknown": Count("pk", filter=Q(state=DeliveryState.UNKNOWN)),
        "delivered": Count("pk", filter=Q(delivered_at__isnull=False)),
        "hard_bounced": Count("pk", filter=Q(bounce_type=BounceType.PERMANENT)),
        "soft_bounced": Count("pk", filter=Q(bounce_type__in=(BounceType.TRANSIENT, BounceType.UNDETERMINED))),
        "complained": Count("pk", filter=Q(complained_at__isnull=False)),
    }


def send_ledger_counts(*, send: Send) -> dict[str, int]:
    """The report's counts from the send's ledger: one aggregate query, and one more for the recipients who
    unsubscribed through this email. Over a million rows these take seconds: a large send's are counted in the
    background and kept (``campaigns.results.kept``)."""
    rows = Delivery.objects.filter(send=send)
    counts = rows.aggregate(**ledger_outcome_counts(), clicked=Count("pk", filter=Q(clicked_at__isnull=False)))
    counts["unsubscribed"] = (
        rows.filter(state=DeliveryState.SENT, subscriber__isnull=False).filter(_unsubscribed_after()).count()
    )
    return counts


def send_report(*, send: Send, ledger: dict[str, int] | None = None) -> dict:
    """A send's results: the counts of its ledger (``send_ledger_counts``, or ``ledger`` when they were counted
    before), and its links' click counts.

    "Clicked" counts recipients who followed at least one tracked link (each once, however often they clicked).
    "Unsubscribed" counts recipients who withdrew through an email's link after this message arrived and
    before the next message we sent them. Rates are out of the messages SES accepted (``sent``), the base SES
    itself uses for bounce and complaint rates. Nothing here names or lists a person.

    ``shown`` is each count as staff may see it ("<5", or "hidden" when it is ``withheld``: it shows, but with the
    counts beside it would give away a hidden one by subtraction), and ``why`` the reason when it does not show.

    First writes the clicks and opens still gathered in Redis (``tally_flush``), and refreshes ``send.opens``, so the
    report is behind the clicks made before it was asked for only by those still queued in other web processes (their
    last 10 ms or so, see ``courier``).
    """
    try:
        tally_flush()
    except redis.RedisError:
        logger.warning("Clicks and opens could not be read from Redis: the report may be a few seconds behind.")
    send.refresh_from_db(fields=["opens"])
    counts = dict(ledger) if ledger is not None else send_ledger_counts(send=send)
    links = [
        {"position": link.position, "url": link.url, "clicks": link.clicks, "clicks_shown": count_shown(link.clicks)}
        for link in TrackedLink.objects.filter(send=send).order_by("position")
    ]
    counts["bounced"] = counts["hard_bounced"] + counts["soft_bounced"]
    withheld = outcomes_withheld(counts)
    if sum_withheld(counts["bounced"], [counts["hard_bounced"], counts["soft_bounced"]]):
        withheld["bounced"] = _withheld_why()
    clicks = sum(link["clicks"] for link in links)
    clicks_withheld = _withheld_why() if sum_withheld(clicks, [link["clicks"] for link in links]) else ""
    rates = {}
    for name, numerator in REPORT_RATES:
        rates[name] = rate_shown(counts[numerator], counts["sent"])
        if numerator in withheld and not rates[name]["hidden"]:
            rates[name] = {**rates[name], "shown": "hidden", "hidden": True, "why": withheld[numerator]}
            rates[name]["hint"] = "Would give away a small count"
    return {
        "counts": counts,
        "shown": {name: "hidden" if name in withheld else count_shown(value) for name, value in counts.items()},
        "why": {name: withheld.get(name) or count_why(value) for name, value in counts.items()},
        "withheld": withheld,
        "outcomes_why": " ".join(dict.fromkeys(why for name in OUTCOME_COUNTS if (why := withheld.get(name)))),
        "rates": rates,
        "links": links,
        "clicks": clicks,
        "clicks_shown": "hidden" if clicks_withheld else count_shown(clicks),
        "clicks_why": clicks_withheld or count_why(clicks),
        "clicks_per_recipient": clicks_per_recipient_tracked(send=send),
    }


def clicks_per_recipient_tracked(*, send: Send) -> bool:
    """Whether the send's links carry each recipient's key: sends made before clicks were told apart by recipient,
    or of a campaign that does not track clicks, cannot say how many people clicked."""
    return "{{ " + CLICK_RECIPIENT_FIELD + " }}" in (send.html_source or "")


def _bucket(span: timedelta) -> tuple[type, timedelta]:
    if span <= timedelta(minutes=2):
        return TruncSecond, timedelta(seconds=1)
    if span <= timedelta(hours=3):
        return TruncMinute, timedelta(minutes=1)
    if span <= timedelta(days=4):
        return TruncHour, timedelta(hours=1)
    return TruncDay, timedelta(days=1)


def send_timeline(*, send: Send, now=None) -> dict:
    """Messages accepted by SES and messages delivered, per second, minute, hour or day by the span, from the
    send's start: two series of equal length, for the report's chart."""
    now = now or timezone.now()
    if not send.started_at:
        return {"step": None, "starts": [], "accepted": [], "delivered": []}
    rows = Delivery.objects.filter(send=send)
    last = rows.aggregate(accepted=Max("finished_at"), delivered=Max("delivered_at"))
    end = max([t for t in (last["accepted"], last["delivered"]) if t] or [send.finished_at or now])
    trunc, step = _bucket(end - send.started_at)
    start = Send.objects.filter(pk=send.pk).annotate(bucket=trunc("started_at")).values_list("bucket", flat=True)[0]
    slots = int((end - start) / step) + 1
    series = {}
    for name, field, condition in (
        ("accepted", "finished_at", Q(state=DeliveryState.SENT)),
        ("delivered", "delivered_at", Q(delivered_at__isnull=False)),
    ):
        values = [0] * slots
        grouped = rows.filter(condition).annotate(bucket=trunc(field)).values("bucket").annotate(n=Count("pk"))
        for item in grouped:
            index = int((item["bucket"] - start) / step)
            if 0 <= index < slots:
                values[index] += item["n"]
        series[name] = values
    return {"step": step, "starts": [start + n * step for n in range(slots)], **series}
