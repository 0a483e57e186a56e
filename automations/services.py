"""Every state change of automations that staff, the API or a trigger makes: create, edit, activate, pause, resume,
and people entering. Each staff action takes its actor, checks its permission (``MANAGE_PERMISSION``; None is the
platform itself) and writes the audit log in the transaction of its change.

The worker's own changes (claiming runs, taking their steps, the ledger) are in ``worker.py``.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from automations.audit import automation_action_log
from automations.errors import AutomationStateError, StepReachedError
from automations.models import (
    Automation,
    AutomationRun,
    AutomationState,
    AutomationStep,
    AutomationTrigger,
    LeftReason,
    RunState,
    StepKind,
)
from automations.schedule import anniversary_days, shop_today
from automations.selectors import steps_reached
from campaigns.sending.planner import planner_statistics_refresh
from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Topic
from subscribers.models.attributes import AttributeValue
from subscribers.permissions import actor_require

# Automations that take people in: a paused one too (its runs wait until it is resumed), never a draft.
ENTERING_STATES = (AutomationState.ACTIVE, AutomationState.PAUSED)
ENTER_CHUNK = 50_000

AUTOMATION_FIELDS = ("name", "topic", "trigger", "trigger_attribute", "trigger_offset_days", "trigger_hour",
                     "trigger_event")
# Checked by every staff action here, whoever calls it (the admin, the API, a script), as campaigns' actions are.
MANAGE_PERMISSION = "automations.manage_automations"
# A position no step holds, for a moment, while two steps swap theirs (positions are unique in an automation).
SWAP_POSITION = 32767
TRIGGER_PERMISSION = "automations.trigger_automations"
STEP_FIELDS = ("kind", "wait_seconds", "wait_weekday", "wait_hour", "email", "segment")
# What an automation's people entered under: its topic (the consent it mails under) and who enters. When and at what
# hour a date trigger fires (its offset and hour) may still change: that moves later entries, not what they mean.
FIXED_WHILE_PEOPLE_IN_IT = ("topic", "trigger", "trigger_attribute", "trigger_event")


def automation_create(*, name: str, topic: Topic, trigger: str, user=None, **trigger_fields) -> Automation:
    """A new automation, in draft: it takes no one in until it is activated."""
    actor_require(user, MANAGE_PERMISSION, action="create automations")
    automation = Automation(name=name, topic=topic, trigger=trigger, created_by=user, **trigger_fields)
    automation.full_clean()
    with transaction.atomic():
        automation.save()
        automation_action_log(automation=automation, action="automations.create", user=user, data={"name": name})
    return automation


def automation_update(*, automation: Automation, user=None, **fields) -> Automation:
    """Change the name, topic or trigger (only these: ``AUTOMATION_FIELDS``). While people are in it, its topic and
    who enters (``FIXED_WHILE_PEOPLE_IN_IT``) stay as they are: a ``ValidationError`` names each field asked to
    change, with how many people are in it, and nothing changes."""
    actor_require(user, MANAGE_PERMISSION, action="change automations")
    unknown = set(fields) - set(AUTOMATION_FIELDS)
    if unknown:
        raise ValueError(f"Not a field of an automation that may be changed: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        # The stored values, locked against a concurrent change (a form may have set the new ones on ``automation``).
        stored = Automation.objects.select_for_update().get(pk=automation.pk)
        changed = [
            name for name in FIXED_WHILE_PEOPLE_IN_IT if name in fields and fields[name] != getattr(stored, name)
        ]
        in_it = AutomationRun.objects.filter(automation=stored, state=RunState.ACTIVE).count() if changed else 0
        if in_it:
            people = f"{in_it:,} {'person is' if in_it == 1 else 'people are'}"
            raise ValidationError(
                {
                    name: f"The {Automation._meta.get_field(name).verbose_name} cannot change while {people} in this "
                    "automation: they entered under the current one. Take them out (on its page), wait until they "
                    "finish, or make a new automation."
                    for name in changed
                }
            )
        for name, value in fields.items():
            setattr(automation, name, value)
        automation.full_clean()
        automation.save()
        automation_action_log(
            automation=automation, action="automations.update", user=user, data={"fields": sorted(fields)}
        )
    return automation


def _steps_check(automation: Automation) -> None:
    steps = list(automation.steps.select_related("email").order_by("position"))
    if not steps:
        raise AutomationStateError("Add at least one step before activating the automation.")
    for step in steps:
        step.clean()
        if step.kind == StepKind.EMAIL and not step.email.live:
            raise AutomationStateError(f"Publish the email “{step.email.title}” of step {step.position} first.")


def automation_activate(*, automation: Automation, user=None) -> Automation:
    """Draft -> active: from now on its trigger takes people in. Every step must be complete and every email live."""
    actor_require(user, MANAGE_PERMISSION, action="activate automations")
    with transaction.atomic():
        automation = Automation.objects.select_for_update().get(pk=automation.pk)
        if automation.state != AutomationState.DRAFT:
            raise AutomationStateError(f"The automation is {automation.get_state_display().lower()}, not a draft.")
        _steps_check(automation)
        automation.state = AutomationState.ACTIVE
        automation.save(update_fields=["state", "updated_at"])
        automation_action_log(automation=automation, action="automations.activate", user=user)
    return automation


def automation_pause(*, automation: Automation, user=None) -> Automation:
    """Active -> paused: no step is taken while paused (runs that fall due wait); triggers still take people in."""
    actor_require(user, MANAGE_PERMISSION, action="pause automations")
    with transaction.atomic():
        automation = Automation.objects.select_for_update().get(pk=automation.pk)
        if automation.state != AutomationState.ACTIVE:
            raise AutomationStateError(f"Only an active automation can be paused; it is {automation.state}.")
        automation.state = AutomationState.PAUSED
        automation.paused_at = timezone.now()
        automation.save(update_fields=["state", "paused_at", "updated_at"])
        automation_action_log(automation=automation, action="automations.pause", user=user)
    return automation


def automation_resume(*, automation: Automation, user=None) -> Automation:
    """Paused -> active: the runs that fell due meanwhile are taken at once, in the order they fell due."""
    actor_require(user, MANAGE_PERMISSION, action="resume automations")
    with transaction.atomic():
        automation = Automation.objects.select_for_update().get(pk=automation.pk)
        if automation.state != AutomationState.PAUSED:
            raise AutomationStateError(f"Only a paused automation can be resumed; it is {automation.state}.")
        _steps_check(automation)
        automation.state = AutomationState.ACTIVE
        automation.paused_at = None
        automation.save(update_fields=["state", "paused_at", "updated_at"])
        automation_action_log(automation=automation, action="automations.resume", user=user)
    transaction.on_commit(_wake)
    return automation


def _wake(workers: int = 1) -> None:
    from automations.tasks import automations_work_task

    for _ in range(workers):
        automations_work_task.delay()


def _reached(step: AutomationStep) -> int:
    """How many runs are at ``step`` or past it (in any state)."""
    return AutomationRun.objects.filter(automation_id=step.automation_id, position__gte=step.position).count()


def step_add(*, automation: Automation, kind: str, user=None, **fields) -> AutomationStep:
    """A new last step. Allowed while people are in the automation: nobody has reached a step that did not exist
    (runs that had finished stay finished)."""
    actor_require(user, MANAGE_PERMISSION, action="add steps to automations")
    with transaction.atomic():
        automation = Automation.objects.select_for_update().get(pk=automation.pk)
        last = automation.steps.order_by("-position").values_list("position", flat=True).first() or 0
        step = AutomationStep(automation=automation, position=last + 1, kind=kind, **fields)
        step.full_clean()
        step.save()
        automation_action_log(
            automation=automation, action="automations.step_add", user=user, data={"position": step.position}
        )
    return step


def step_update(*, step: AutomationStep, user=None, **fields) -> AutomationStep:
    """Change a step that no one has reached yet. Refused, changing nothing, when a run is at it or past it."""
    actor_require(user, MANAGE_PERMISSION, action="change the steps of automations")
    unknown = set(fields) - set(STEP_FIELDS)
    if unknown:
        raise ValueError(f"Not a field of a step: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        Automation.objects.select_for_update().get(pk=step.automation_id)  # one edit of an automation at a time
        reached = _reached(step)
        if reached:
            raise StepReachedError(
                f"Step {step.position} cannot be changed: {reached} "
                f"{'person has' if reached == 1 else 'people have'} already reached it. "
                "Add a new step after the last one instead, or make a new automation."
            )
        for name in STEP_FIELDS:  # a step changed to another kind loses the fields of the old one
            if name in ("email", "segment"):
                setattr(step, f"{name}_id", None)
            elif name != "kind":
                setattr(step, name, None)
        for name, value in fields.items():
            setattr(step, name, value)
        step.full_clean()
        step.save()
        automation_action_log(
            automation=step.automation, action="automations.step_update", user=user, data={"position": step.position}
        )
    return step


def step_delete(*, step: AutomationStep, user=None) -> None:
    """Remove a step no one has reached; the steps after it move up one."""
    actor_require(user, MANAGE_PERMISSION, action="remove the steps of automations")
    with transaction.atomic():
        automation = Automation.objects.select_for_update().get(pk=step.automation_id)
        reached = _reached(step)
        if reached:
            raise StepReachedError(
                f"Step {step.position} cannot be removed: {reached} "
                f"{'person has' if reached == 1 else 'people have'} already reached it."
            )
        position = step.position
        step.delete()
        # Moved one at a time, lowest first, so the unique (automation, position) holds after each statement.
        for later in automation.steps.filter(position__gt=position).order_by("position"):
            AutomationStep.objects.filter(pk=later.pk).update(position=later.position - 1)
        automation_action_log(
            automation=automation, action="automations.step_delete", user=user, data={"position": position}
        )


def step_move(*, step: AutomationStep, user, offset: int) -> AutomationStep:
    """Swap a step with its neighbour before (``offset`` -1) or after it (+1). Neither may have been reached: a run
    at either would find a different step where it stands."""
    actor_require(user, MANAGE_PERMISSION, action="move the steps of automations")
    with transaction.atomic():
        automation = Automation.objects.select_for_update().get(pk=step.automation_id)
        step = AutomationStep.objects.get(pk=step.pk)
        neighbour = AutomationStep.objects.filter(automation=automation, position=step.position + offset).first()
        if neighbour is None:
            raise AutomationStateError(f"Step {step.position} is already the {'first' if offset < 0 else 'last'}.")
        reached = steps_reached(automation=automation)
        for candidate in (step, neighbour):
            if why := reached.get(candidate.pk):
                raise StepReachedError(f"Step {candidate.position} cannot be moved: {why}")
        old, new = step.position, neighbour.position
        AutomationStep.objects.filter(pk=step.pk).update(position=SWAP_POSITION)
        AutomationStep.objects.filter(pk=neighbour.pk).update(position=old)
        AutomationStep.objects.filter(pk=step.pk).update(position=new)
        step.position = new
        automation_action_log(
            automation=automation, action="automations.step_move", user=user, data={"from": old, "to": new}
        )
    return step


def automation_enter(
    *, automation: Automation, subscriber: Subscriber, occurrence: str = "", now: datetime | None = None
) -> AutomationRun | None:
    """Put ``subscriber`` in ``automation`` at its first step, due now. Idempotent: a person enters once per
    occurrence (the unique constraint decides, also between concurrent callers); None when they were already in,
    or the automation takes no one in (a draft)."""
    if automation.state not in ENTERING_STATES:
        return None
    try:
        with transaction.atomic():
            run = AutomationRun.objects.create(
                automation=automation, subscriber=subscriber, occurrence=occurrence, due_at=now or timezone.now()
            )
    except IntegrityError:
        return None
    transaction.on_commit(_wake)
    return run


def runs_enter_subscribers(
    *, automation: Automation, subscriber_ids: list[int], occurrence: str, now: datetime | None = None
) -> int:
    """Enter many people at once, due now: on PostgreSQL one ``INSERT ... SELECT FROM unnest(...)`` per 50,000, else
    ``bulk_create``; conflicts ignored (those already in for this occurrence stay as they are). Returns how many
    people were offered."""
    when = now or timezone.now()
    if connection.vendor == "postgresql":
        # One statement whatever the crowd (a date trigger may enter tens of thousands at once): the ids as one array
        # parameter, the rows made by the database, those already in left alone.
        table = connection.ops.quote_name(AutomationRun._meta.db_table)
        sql = (
            f"INSERT INTO {table} (automation_id, subscriber_id, position, state, due_at, occurrence, "  # noqa: S608
            "left_reason, claimed_by, started_at) "
            "SELECT %s, person, 1, %s, %s, %s, '', '', %s FROM unnest(%s::bigint[]) AS person "
            "ON CONFLICT DO NOTHING"
        )
        with connection.cursor() as cursor:
            for start in range(0, len(subscriber_ids), ENTER_CHUNK):
                chunk = list(subscriber_ids[start : start + ENTER_CHUNK])
                cursor.execute(sql, [automation.pk, RunState.ACTIVE, when, occurrence, when, chunk])
        if len(subscriber_ids) >= settings.AUTOMATION_ANALYZE_FROM:
            # The workers' claims planned for the crowd, not for the table as autovacuum last saw it; in this
            # transaction, whose own new rows the sample counts.
            planner_statistics_refresh(AutomationRun)
    else:
        for start in range(0, len(subscriber_ids), ENTER_CHUNK):
            AutomationRun.objects.bulk_create(
                [
                    AutomationRun(
                        automation=automation, subscriber_id=pk, occurrence=occurrence, due_at=when, started_at=when
                    )
                    for pk in subscriber_ids[start : start + ENTER_CHUNK]
                ],
                ignore_conflicts=True,
            )
    if subscriber_ids:
        # As many workers as there are batches to claim, up to AUTOMATION_WORKERS: a crowd due at once is shared.
        batches = -(-len(subscriber_ids) // settings.AUTOMATION_BATCH_SIZE)
        workers = min(settings.AUTOMATION_WORKERS, batches)
        transaction.on_commit(lambda: _wake(workers))
    return len(subscriber_ids)


def topic_confirmed_enter(*, subscriber: Subscriber, topic_slug: str) -> list[AutomationRun]:
    """A subscription to ``topic_slug`` was confirmed: enter every automation started by that."""
    automations = Automation.objects.filter(
        trigger=AutomationTrigger.TOPIC_CONFIRMED, topic__slug=topic_slug, state__in=ENTERING_STATES
    )
    runs = [automation_enter(automation=a, subscriber=subscriber) for a in automations]
    return [run for run in runs if run is not None]


def api_event_enter(*, event: str, subscriber: Subscriber, occurrence: str = "", actor=None) -> list[AutomationRun]:
    """An event named ``event`` arrived for ``subscriber`` (from the API, ``actor`` being its key's user): enter every
    automation it starts. ``occurrence`` (the caller's key for this event) lets the same event start an automation
    again for a new occurrence; without one, a person enters each automation once."""
    actor_require(actor, TRIGGER_PERMISSION, action="start automations with events")
    automations = Automation.objects.filter(
        trigger=AutomationTrigger.API_EVENT, trigger_event=event, state__in=ENTERING_STATES
    )
    runs = [automation_enter(automation=a, subscriber=subscriber, occurrence=occurrence) for a in automations]
    return [run for run in runs if run is not None]


def date_triggers_enter(*, now: datetime | None = None) -> dict[str, int]:
    """Enter everyone whose date attribute's day (plus the automation's offset) is today in the shop's time zone,
    once the trigger hour has come: the occurrence is the year of that day, so a person enters once a year.

    Run by beat every few minutes; a run that finds people already in for this year enters them again not at all.
    Only people with an active subscription to the automation's topic are entered (consent is checked again at
    every email step in any case)."""
    now = now or timezone.now()
    today, hour = shop_today(now)
    entered: dict[str, int] = {}
    automations = Automation.objects.filter(
        trigger=AutomationTrigger.DATE_ATTRIBUTE, state__in=ENTERING_STATES, trigger_hour__lte=hour
    )
    for automation in automations:
        # The date whose anniversary is today, offset: 7 days after a birthday is today if the birthday was 7 ago.
        day = today - timedelta(days=automation.trigger_offset_days)
        ids: list[int] = []
        for month, dom in anniversary_days(day):
            values = AttributeValue.objects.filter(
                attribute_id=automation.trigger_attribute_id, date__month=month, date__day=dom
            ).filter(
                Exists(
                    Subscription.objects.filter(
                        subscriber_id=OuterRef("subscriber_id"),
                        topic_id=automation.topic_id,
                        status=SubscriptionStatus.ACTIVE,
                    )
                )
            )
            ids += list(values.values_list("subscriber_id", flat=True))
        entered[automation.name] = runs_enter_subscribers(automation=automation, subscriber_ids=ids,
                                                          occurrence=str(day.year), now=now)
    return entered


def run_stop(*, run: AutomationRun, user=None) -> AutomationRun:
    """Take one person out of an automation (staff): their run leaves, reason "stopped", and takes no more steps."""
    actor_require(user, MANAGE_PERMISSION, action="take people out of automations")
    with transaction.atomic():
        updated = AutomationRun.objects.filter(pk=run.pk, state=RunState.ACTIVE).update(
            state=RunState.LEFT, left_reason=LeftReason.STOPPED, finished_at=timezone.now(), claimed_by=""
        )
        if updated:
            automation_action_log(automation=run.automation, action="automations.run_stop", user=user)
    run.refresh_from_db()
    return run
