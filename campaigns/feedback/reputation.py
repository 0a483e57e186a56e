"""The reputation guard: pause every running send before SES would put the account under review.

SES reviews an account whose bounce rate reaches 5% or whose complaint rate reaches 0.1%. The guard keeps a
margin: over ``REPUTATION_BOUNCE_LIMIT`` (default 4%) or ``REPUTATION_COMPLAINT_LIMIT`` (default 0.08%) of the
messages accepted in the last ``REPUTATION_WINDOW_HOURS`` (default 24), it pauses every send that is
sending and says why on each. A person resumes; the guard pauses again if a later bounce or complaint finds
the rates still over the limits. Rates are not judged below ``REPUTATION_MIN_SENT`` messages, where one
bounce would be a large fraction. This platform sends from one SES account (region), so the rates are the
account's as far as our mail is concerned.

When it looks. Bounces and complaints come in bursts (a stale list yields hundreds within seconds), and one
check per event would be hundreds of identical queries. So a processed bounce or complaint schedules one check
``REPUTATION_CHECK_SECONDS`` (default 2) later on the ``feedback`` queue, unless one is already scheduled: a
marker in Redis says so. The check deletes the marker *before* it reads the rates. An event committed before
that read is counted by it; an event committed after it finds no marker and schedules the next check. So every
event of a burst is judged, within a few seconds, and none is dropped. Should the check's message be lost (a
Redis restart, which forgets the marker too, or a worker lost with it), the marker expires a minute after the
check was due and the next event schedules another; the minute sweeper also checks while any send runs.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.models import BounceType, Delivery, DeliveryState, Send, SendState
from campaigns.sending.services import send_pause

REASON_PREFIX = "Paused by the reputation guard"


@dataclass(frozen=True)
class ReputationRates:
    sent: int
    bounced: int
    complained: int

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sent if self.sent else 0.0


def reputation_rates() -> ReputationRates:
    """Hard bounces and complaints against messages SES accepted, over the rolling window."""
    since = timezone.now() - timedelta(hours=settings.REPUTATION_WINDOW_HOURS)
    recent = Send.objects.filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since), started_at__isnull=False)
    counts = Delivery.objects.filter(send__in=recent).aggregate(
        sent=Count("pk", filter=Q(state=DeliveryState.SENT, finished_at__gte=since)),
        bounced=Count("pk", filter=Q(bounce_type=BounceType.PERMANENT, bounced_at__gte=since)),
        complained=Count("pk", filter=Q(complained_at__gte=since)),
    )
    return ReputationRates(**counts)


def reputation_problem(rates: ReputationRates) -> str:
    """Why sending must stop, in words; empty when the rates are within the limits."""
    if rates.sent < settings.REPUTATION_MIN_SENT:
        return ""
    hours = settings.REPUTATION_WINDOW_HOURS
    if rates.complaint_rate > settings.REPUTATION_COMPLAINT_LIMIT:
        return (
            f"{REASON_PREFIX}: complaint rate {rates.complaint_rate:.2%} in the last {hours} hours is over the "
            f"{settings.REPUTATION_COMPLAINT_LIMIT:.2%} limit (SES reviews accounts at 0.1%)."
        )
    if rates.bounce_rate > settings.REPUTATION_BOUNCE_LIMIT:
        return (
            f"{REASON_PREFIX}: hard-bounce rate {rates.bounce_rate:.1%} in the last {hours} hours is over the "
            f"{settings.REPUTATION_BOUNCE_LIMIT:.1%} limit (SES reviews accounts at 5%)."
        )
    return ""


# Says a check is scheduled; every event of a burst that finds it leaves the judging to that check.
CHECK_SCHEDULED_KEY = "campaigns:reputation-check-scheduled"
# How long the marker outlives the check's due time. Longer only delays the check that replaces a lost one
# (the sweeper checks every minute anyway); shorter risks a second check for the same burst, which is harmless.
CHECK_MARKER_GRACE_SECONDS = 60


def reputation_check_schedule() -> bool:
    """After a bounce or complaint is committed: make sure a check runs within ``REPUTATION_CHECK_SECONDS``.

    Returns True when this call scheduled the check, False when one was already scheduled (it will count this
    event, since it reads the rates only after it has cleared the marker).
    """
    delay = settings.REPUTATION_CHECK_SECONDS
    if not cache.add(CHECK_SCHEDULED_KEY, 1, timeout=delay + CHECK_MARKER_GRACE_SECONDS):
        return False
    from campaigns.tasks import reputation_guard_task

    reputation_guard_task.apply_async(countdown=delay)
    return True


def reputation_guard(*, force: bool = False) -> str:
    """Judge the rates now: pause every running send when one is over its limit; return the reason (empty when
    all is well).

    Called plain, it is the scheduled check (``reputation_guard_task``): it clears the marker first, so that an
    event committed after its read schedules a check of its own. ``force`` is a check out of turn, the minute
    sweeper's: it leaves the marker, and the check already scheduled, alone.
    """
    if not force:
        cache.delete(CHECK_SCHEDULED_KEY)
    problem = reputation_problem(reputation_rates())
    if problem:
        for send in Send.objects.filter(state=SendState.SENDING):
            send_pause(send=send, reason=problem)
    return problem
