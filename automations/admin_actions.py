"""Staff actions on automations that the admin calls: create and change one, activate, pause and resume it, and add,
change, move and remove its steps. Each takes the person acting, checks their permission, refuses a step that someone
has already reached, and writes the audit log in the transaction of its change.

A refusal is a ``ValidationError`` naming the field or step (the form puts it beside the field), or
``PermissionDenied``; either way nothing has changed.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, Max
from django.utils import timezone

from automations.admin.access import may_manage_automations
from automations.models import Automation, AutomationDelivery, AutomationState, AutomationStep, StepKind
from subscribers.audit import ActionLog

AUTOMATION_ADMIN_LOG = ActionLog(
    {
        "automations.create": ("Create automation", "Created the automation"),
        "automations.update": ("Change automation", "Changed the automation's name, topic or trigger"),
        "automations.activate": ("Activate automation", "Activated the automation"),
        "automations.pause": ("Pause automation", "Paused the automation"),
        "automations.resume": ("Resume automation", "Resumed the automation"),
        "automations.step_add": ("Add automation step", "Added a step to the automation"),
        "automations.step_update": ("Change automation step", "Changed a step of the automation"),
        "automations.step_move": ("Move automation step", "Moved a step of the automation"),
        "automations.step_delete": ("Remove automation step", "Removed a step of the automation"),
    }
)
# Fields that decide who is in the automation and under which consent they are mailed: changed only while nobody is.
ENTRY_FIELDS = ("topic", "trigger", "trigger_attribute", "trigger_offset_days", "trigger_hour", "trigger_event")
STEP_FIELDS = ("kind", "wait_seconds", "wait_weekday", "wait_hour", "email", "segment")
# A position no step holds, for a moment, while two steps swap theirs (positions are unique in an automation).
SWAP_POSITION = 32767


def _require(user) -> None:
    if user is not None and not may_manage_automations(user):
        raise PermissionDenied("You may not change automations: your roles do not allow it.")


def _locked(automation: Automation) -> Automation:
    """The automation's row, locked for the rest of the transaction: two staff changing its steps at once wait for
    each other instead of numbering steps twice."""
    return Automation.objects.select_for_update().get(pk=automation.pk)


def _log(automation: Automation, action: str, user, data: dict | None = None) -> None:
    AUTOMATION_ADMIN_LOG.write(instance=automation, action=action, user=user, data=data)


def automation_create(*, user, name: str, topic, trigger: str, **trigger_fields) -> Automation:
    """A new automation, in the draft state: nobody enters it until it is activated."""
    _require(user)
    automation = Automation(name=name, topic=topic, trigger=trigger, created_by=user, **trigger_fields)
    automation.full_clean()
    with transaction.atomic():
        automation.save()
        _log(automation, "automations.create", user, {"trigger": trigger})
    return automation


def automation_update(*, automation: Automation, user, **fields) -> Automation:
    """Change the name, topic or trigger. The topic and trigger decide who is in it and under which consent they are
    mailed, so they change only while nobody is in it (a draft, or one nobody has entered)."""
    _require(user)
    with transaction.atomic():
        automation = _locked(automation)
        changed = [name for name, value in fields.items() if getattr(automation, name) != value]
        entry_changed = [name for name in changed if name in ENTRY_FIELDS]
        if entry_changed and automation.runs.filter(state="active").exists():
            raise ValidationError(
                {
                    entry_changed[0]: "People are in this automation now: its topic and trigger cannot change "
                    "under them. Make a new automation instead."
                }
            )
        for name, value in fields.items():
            setattr(automation, name, value)
        automation.full_clean()
        automation.save()
        if changed:
            _log(automation, "automations.update", user, {"fields": changed})
    return automation


def _activation_problems(automation: Automation) -> list[str]:
    steps = list(automation.steps.select_related("email").order_by("position"))
    if not any(step.kind == StepKind.EMAIL for step in steps):
        return ["Add at least one step that sends an email before activating it."]
    return [
        f"Step {step.position} sends “{step.email.title}”, which is not published: publish it first."
        for step in steps
        if step.kind == StepKind.EMAIL and not step.email.live
    ]


def automation_activate(*, automation: Automation, user) -> Automation:
    """A draft starts: people who meet its trigger from now on enter it. Any other state is left as it is."""
    _require(user)
    with transaction.atomic():
        automation = _locked(automation)
        if automation.state != AutomationState.DRAFT:
            return automation
        if problems := _activation_problems(automation):
            raise ValidationError(problems)
        automation.state = AutomationState.ACTIVE
        automation.save(update_fields=["state", "updated_at"])
        _log(automation, "automations.activate", user)
    return automation


def automation_pause(*, automation: Automation, user) -> Automation:
    """An active automation stops taking steps: due runs wait, nobody enters. Idempotent."""
    _require(user)
    with transaction.atomic():
        automation = _locked(automation)
        if automation.state != AutomationState.ACTIVE:
            return automation
        automation.state = AutomationState.PAUSED
        automation.paused_at = timezone.now()
        automation.save(update_fields=["state", "paused_at", "updated_at"])
        _log(automation, "automations.pause", user)
    return automation


def automation_resume(*, automation: Automation, user) -> Automation:
    """A paused automation goes on: steps that fell due while it was paused are taken now. Idempotent."""
    _require(user)
    with transaction.atomic():
        automation = _locked(automation)
        if automation.state != AutomationState.PAUSED:
            return automation
        automation.state = AutomationState.ACTIVE
        automation.paused_at = None
        automation.save(update_fields=["state", "paused_at", "updated_at"])
        _log(automation, "automations.resume", user)
    return automation


def steps_reached(*, automation: Automation) -> dict[int, str]:
    """{step id: why it cannot change} for each step someone has reached or passed: a run at or beyond its
    position, in any state, or a ledger row of it. Changing such a step would give some people a different series
    from the one the others got, and its email's results would mix two emails."""
    runs_by_position = {
        row["position"]: row["people"]
        for row in automation.runs.values("position").annotate(people=Count("pk")).order_by()
    }
    sent = set(
        AutomationDelivery.objects.filter(step__automation=automation).values_list("step_id", flat=True).distinct()
    )
    reached = {}
    for step in automation.steps.only("pk", "position"):
        people = sum(count for position, count in runs_by_position.items() if position >= step.position)
        if people:
            reached[step.pk] = (
                f"{people} {'person has' if people == 1 else 'people have'} reached or passed it, so it stays as "
                "they found it."
            )
    for step_id in sent - reached.keys():
        reached[step_id] = "its email has been sent to people, so it stays as they got it."
    return reached


def _refuse_if_reached(step: AutomationStep, doing: str) -> None:
    why = steps_reached(automation=step.automation).get(step.pk)
    if why:
        raise ValidationError(f"Step {step.position} cannot be {doing}: {why}")


def _step_values(fields: dict) -> dict:
    return {name: fields.get(name) for name in STEP_FIELDS}


def step_add(*, automation: Automation, user, **fields) -> AutomationStep:
    """A new step at the end. Nobody has reached it, so people already in the automation take it when they get
    there."""
    _require(user)
    with transaction.atomic():
        automation = _locked(automation)
        position = (automation.steps.aggregate(last=Max("position"))["last"] or 0) + 1
        step = AutomationStep(automation=automation, position=position, **_step_values(fields))
        step.full_clean()
        step.save()
        _log(automation, "automations.step_add", user, {"position": position, "kind": step.kind})
    return step


def step_update(*, step: AutomationStep, user, **fields) -> AutomationStep:
    """Change a step nobody has reached yet."""
    _require(user)
    with transaction.atomic():
        _locked(step.automation)
        step = AutomationStep.objects.select_related("automation").get(pk=step.pk)
        _refuse_if_reached(step, "changed")
        for name, value in _step_values(fields).items():
            setattr(step, name, value)
        step.full_clean()
        step.save()
        _log(step.automation, "automations.step_update", user, {"position": step.position, "kind": step.kind})
    return step


def step_move(*, step: AutomationStep, user, offset: int) -> AutomationStep:
    """Swap a step with its neighbour before (``offset`` -1) or after it (+1); neither may have been reached."""
    _require(user)
    with transaction.atomic():
        _locked(step.automation)
        step = AutomationStep.objects.select_related("automation").get(pk=step.pk)
        neighbour = AutomationStep.objects.filter(automation=step.automation, position=step.position + offset).first()
        if neighbour is None:
            raise ValidationError(f"Step {step.position} is already the {'first' if offset < 0 else 'last'}.")
        _refuse_if_reached(step, "moved")
        _refuse_if_reached(neighbour, "moved")
        old, new = step.position, neighbour.position
        AutomationStep.objects.filter(pk=step.pk).update(position=SWAP_POSITION)
        AutomationStep.objects.filter(pk=neighbour.pk).update(position=old)
        AutomationStep.objects.filter(pk=step.pk).update(position=new)
        step.position = new
        _log(step.automation, "automations.step_move", user, {"from": old, "to": new})
    return step


def step_delete(*, step: AutomationStep, user) -> None:
    """Remove a step nobody has reached; the steps after it move up one place (nobody has reached those either: a
    run beyond them would have passed this one)."""
    _require(user)
    with transaction.atomic():
        automation = _locked(step.automation)
        step = AutomationStep.objects.select_related("automation").get(pk=step.pk)
        _refuse_if_reached(step, "removed")
        position = step.position
        step.delete()
        # One at a time, lowest first, so that no two steps hold a position at once.
        for later in automation.steps.filter(position__gt=position).order_by("position"):
            AutomationStep.objects.filter(pk=later.pk).update(position=F("position") - 1)
        _log(automation, "automations.step_delete", user, {"position": position})
