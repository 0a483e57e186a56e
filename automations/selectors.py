"""Reads about automations for their admin pages: where their people are, each email step's aggregate results, and
which steps are locked because someone has reached them.

Aggregates only, never a person (DESIGN.md section 7), but for one address's runs, looked up to take them out.
The privacy floor is the campaigns' own (``campaigns.results.report``): a count of 1 to REPORT_MIN_GROUP_SIZE - 1
shows as "<5", a rate with so few people behind it is hidden, and a count that would give a hidden one away by
subtraction is hidden too.

How many people are at each step is shown exactly, as a send's progress is: it is where the automation's work
stands, and it says nothing about anyone's choices. Why people left (unsubscribed, suppressed, erased...) does, so
those counts go through the floor.
"""

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from automations.models import Automation, AutomationDelivery, AutomationRun, LeftReason, RunState, StepKind
from campaigns.models import DeliveryState
from campaigns.results.report import (
    WITHHELD_WHY,
    count_shown,
    count_why,
    ledger_outcome_counts,
    outcomes_withheld,
    rate_shown,
    sum_withheld,
)
from subscribers.addresses import email_normalise

# The rates shown for each email, all out of the messages SES accepted (as a campaign's report).
EMAIL_RATES = (("delivered", "Delivered"), ("bounced", "Bounced"), ("complained", "Complained"))


def _shown(count: int, *, withheld: str = "") -> dict:
    """A count as staff may see it: ``{"count", "shown", "why"}``."""
    if withheld:
        return {"count": count, "shown": "hidden", "why": withheld}
    return {"count": count, "shown": count_shown(count), "why": count_why(count)}


def automations_people_by_state(*, automation_ids: list[int]) -> dict[int, dict[str, int]]:
    """{automation id: {run state: people}} for the list, in one grouped query on the runs' (automation, state,
    position) index; joining runs and steps in one query would count every run once per step."""
    rows = (
        AutomationRun.objects.filter(automation_id__in=automation_ids)
        .values("automation_id", "state")
        .annotate(people=Count("pk"))
        .order_by()
    )
    people: dict[int, dict[str, int]] = {}
    for row in rows:
        people.setdefault(row["automation_id"], {})[row["state"]] = row["people"]
    return people


def automation_people(*, automation: Automation) -> dict:
    """Where the automation's people are, in two aggregate queries.

    ``at_step``: {position: active runs at that step}; ``finished``, ``left`` and ``active``: totals;
    ``left_reasons``: [{"reason", "label", "count", "shown", "why"}] for each reason someone left for.
    """
    runs = AutomationRun.objects.filter(automation=automation)
    at_step = {
        row["position"]: row["people"]
        for row in runs.filter(state=RunState.ACTIVE).values("position").annotate(people=Count("pk")).order_by()
    }
    by_reason = {
        row["left_reason"]: row["people"]
        for row in runs.filter(state=RunState.LEFT).values("left_reason").annotate(people=Count("pk")).order_by()
    }
    totals = runs.aggregate(
        finished=Count("pk", filter=Q(state=RunState.FINISHED)),
        left=Count("pk", filter=Q(state=RunState.LEFT)),
    )
    labels = dict(LeftReason.choices)
    reasons = [
        {"reason": reason, "label": labels.get(reason, reason or "No reason recorded"), **_shown(people)}
        for reason, people in sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
    ]
    left_shown = f"{totals['left']:,}"
    if sum_withheld(totals["left"], list(by_reason.values())):
        # The total shows, so the single hidden reason must not be the total minus the others: hide the smallest
        # other reason too (as a campaign report does with its outcomes).
        shown_reasons = [row for row in reasons if row["shown"] != "hidden" and row["why"] == ""]
        if shown_reasons:
            smallest = min(shown_reasons, key=lambda row: row["count"])
            smallest.update(_shown(smallest["count"], withheld=_withheld_why()))
    if len(reasons) == 1:  # the total is that one reason's count: shown as the reason is, under the floor
        left_shown = reasons[0]["shown"]
    return {
        "at_step": at_step,
        "active": sum(at_step.values()),
        "finished": totals["finished"],
        "left": totals["left"],
        "left_shown": left_shown,  # as staff may see it
        "left_reasons": reasons,
    }


def _withheld_why() -> str:
    return WITHHELD_WHY.format(minimum=settings.REPORT_MIN_GROUP_SIZE)


def automation_email_results(*, automation: Automation) -> dict[int, dict]:
    """{step id: results} for each email step of the automation, from its ledger (``AutomationDelivery``), in one
    aggregate query. Each result has ``shown`` and ``why`` for every count and ``rates`` as a campaign report."""
    rows = (
        AutomationDelivery.objects.filter(step__automation=automation, step__kind=StepKind.EMAIL)
        .values("step_id")
        .annotate(
            **ledger_outcome_counts(),
            waiting=Count("pk", filter=Q(state__in=(DeliveryState.QUEUED, DeliveryState.CLAIMED))),
        )
        .order_by()
    )
    return {row.pop("step_id"): email_results_shown(row) for row in rows}


EMPTY_COUNTS = dict.fromkeys(
    (
        "recipients",
        "sent",
        "waiting",
        "failed",
        "skipped",
        "unknown",
        "delivered",
        "hard_bounced",
        "soft_bounced",
        "complained",
    ),
    0,
)


def email_results_shown(counts: dict) -> dict:
    """One email step's counts as staff may see them, through the campaigns' privacy floor."""
    counts = {**EMPTY_COUNTS, **counts}
    counts["bounced"] = counts["hard_bounced"] + counts["soft_bounced"]
    withheld = outcomes_withheld(counts)
    if sum_withheld(counts["bounced"], [counts["hard_bounced"], counts["soft_bounced"]]):
        withheld["bounced"] = _withheld_why()
    rates = []
    for name, label in EMAIL_RATES:
        rate = rate_shown(counts[name], counts["sent"])
        if name in withheld and not rate["hidden"]:
            rate = {**rate, "shown": "hidden", "hidden": True, "why": withheld[name]}
        rates.append({"name": name, "label": label, **rate})
    return {
        "counts": counts,
        "shown": {name: "hidden" if name in withheld else count_shown(value) for name, value in counts.items()},
        "why": {name: withheld.get(name) or count_why(value) for name, value in counts.items()},
        "rates": rates,
    }


def steps_reached(*, automation: Automation) -> dict[int, str]:
    """{step id: why it cannot change} for each step someone has reached or passed: a run at or beyond its position,
    in any state (the rule ``services.step_update`` applies). One query for the runs, one for the steps."""
    runs_by_position = {
        row["position"]: row["people"]
        for row in automation.runs.values("position").annotate(people=Count("pk")).order_by()
    }
    reached = {}
    for step in automation.steps.only("pk", "position"):
        people = sum(count for position, count in runs_by_position.items() if position >= step.position)
        if people:
            reached[step.pk] = (
                f"{people} {'person has' if people == 1 else 'people have'} reached or passed it, so it stays as "
                "they found it."
            )
    return reached


def automation_runs_of_address(*, automation: Automation, address: str) -> QuerySet[AutomationRun]:
    """One person's active runs in the automation, found by their whole address (in any case): what staff need to
    take someone out at their request. The one read here about a person, and no list to browse: who is in which
    automation, and at which step, can tell what they did (section 7), so it is only ever one address's answer."""
    runs = AutomationRun.objects.filter(
        automation=automation, state=RunState.ACTIVE, subscriber__email=email_normalise(address)
    )
    return runs.select_related("subscriber").order_by("started_at", "pk")


def automation_uses_of_attribute(attribute, choices=None) -> list[str]:
    """The automations whose date trigger is ``attribute`` (registered with ``subscribers.attribute_users``). A
    trigger is a date, never a choice: removing choices concerns none."""
    if choices is not None:
        return []
    return [
        f"the automation “{name}”"
        for name in Automation.objects.filter(trigger_attribute=attribute)
        .values_list("name", flat=True)
        .order_by("name")
    ]
