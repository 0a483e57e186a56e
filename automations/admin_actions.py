"""What the automation admin needs beyond ``automations.services``: which steps are locked and why (a read), and
moving a step (an action, with its actor and its audit log entry). Everything else the admin changes goes through
the services.

A refusal is a ``StepReachedError`` (or ``AutomationStateError``) whose message says why; nothing has changed.
"""

from django.db import transaction
from django.db.models import Count

from automations.errors import AutomationStateError, StepReachedError
from automations.models import Automation, AutomationStep
from subscribers.audit import ActionLog

# The admin's own action type; the services' are in ``automations.audit``.
STEP_MOVE = "automations.step_move"
AUTOMATION_ADMIN_LOG = ActionLog({STEP_MOVE: ("Move automation step", "Moved a step of the automation")})
# A position no step holds, for a moment, while two steps swap theirs (positions are unique in an automation).
SWAP_POSITION = 32767


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


def step_move(*, step: AutomationStep, user, offset: int) -> AutomationStep:
    """Swap a step with its neighbour before (``offset`` -1) or after it (+1). Neither may have been reached: a run
    at either would find a different step where it stands."""
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
        AUTOMATION_ADMIN_LOG.write(instance=automation, action=STEP_MOVE, user=user, data={"from": old, "to": new})
    return step
