"""Reads about automations for the admin and the API: how many people are at each step, each email's aggregate
results. Counts go through campaigns' privacy floor (``count_shown``, ``rate_shown``): a group of fewer than
REPORT_MIN_GROUP_SIZE people shows as "<5", and no read here names a person."""

from django.db.models import Count, Q

from automations.models import AutomationDelivery, AutomationRun, AutomationStep, RunState
from campaigns.models import DeliveryState
from campaigns.results.report import count_shown, rate_shown


def automation_step_counts(*, automation) -> list[dict]:
    """One row per step, in order: the step, and how many active runs are at it (``at``, as shown). Then the runs
    that finished or left, by reason. One query for the runs, one for the steps (index ``automation_run_position``)."""
    at = dict(
        AutomationRun.objects.filter(automation=automation, state=RunState.ACTIVE)
        .values_list("position")
        .annotate(n=Count("id"))
        .values_list("position", "n")
    )
    steps = AutomationStep.objects.filter(automation=automation).select_related("email", "segment").order_by("position")
    return [{"step": step, "at": at.get(step.position, 0), "at_shown": count_shown(at.get(step.position, 0))}
            for step in steps]


def automation_outcomes(*, automation) -> dict[str, str]:
    """How many runs finished, and how many left for each reason, as shown (the privacy floor applied)."""
    rows = (
        AutomationRun.objects.filter(automation=automation)
        .exclude(state=RunState.ACTIVE)
        .values_list("state", "left_reason")
        .annotate(n=Count("id"))
    )
    shown = {}
    for state, reason, n in rows:
        key = "finished" if state == RunState.FINISHED else f"left: {reason}"
        shown[key] = count_shown(n)
    return shown


def automation_email_results(*, step: AutomationStep) -> dict:
    """The aggregate results of one email step: sent, delivered, bounced, complained, failed, in doubt, as shown, and
    the rates out of the messages SES accepted. One query."""
    counts = AutomationDelivery.objects.filter(step=step).aggregate(
        sent=Count("id", filter=Q(state=DeliveryState.SENT)),
        failed=Count("id", filter=Q(state=DeliveryState.FAILED)),
        unknown=Count("id", filter=Q(state=DeliveryState.UNKNOWN)),
        delivered=Count("id", filter=Q(delivered_at__isnull=False)),
        bounced=Count("id", filter=Q(bounced_at__isnull=False)),
        complained=Count("id", filter=Q(complained_at__isnull=False)),
    )
    accepted = counts["sent"]
    return {
        "counts": {name: count_shown(value) for name, value in counts.items()},
        "rates": {name: rate_shown(counts[name], accepted) for name in ("delivered", "bounced", "complained")},
    }
