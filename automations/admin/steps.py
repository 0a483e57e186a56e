"""An automation's trigger and steps in a few words, for its admin pages and messages."""

from automations.models import Automation, AutomationStep, AutomationTrigger, StepKind

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Units a wait is written in, largest first: a wait is said in the largest one that divides it exactly.
UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def duration_text(seconds: int) -> str:
    """3 days, 1 hour, 90 minutes, 45 seconds."""
    for size, name in UNITS:
        if seconds % size == 0:
            amount = seconds // size
            return f"{amount} {name}{'' if amount == 1 else 's'}"
    return f"{seconds} seconds"  # not reached: every whole number of seconds divides by one


def step_summary(step: AutomationStep) -> str:
    """What a step does, such as “Wait 3 days” or “Send “Welcome to the workshop””."""
    if step.kind == StepKind.WAIT:
        if step.wait_seconds is not None:
            return f"Wait {duration_text(step.wait_seconds)}"
        return f"Wait until {WEEKDAY_NAMES[step.wait_weekday]} at {step.wait_hour:02d}:00"
    if step.kind == StepKind.EMAIL:
        return f"Send “{step.email.title}”" if step.email_id else "Send an email (none chosen)"
    if step.kind == StepKind.CONDITION:
        name = step.segment.name if step.segment_id else "(none chosen)"
        return f"Continue only for people in the segment “{name}”"
    return "Stop: everyone still here finishes"


def trigger_summary(automation: Automation) -> str:
    """Who enters the automation, and when."""
    if automation.trigger == AutomationTrigger.TOPIC_CONFIRMED:
        return f"When someone confirms a subscription to {automation.topic.name}"
    if automation.trigger == AutomationTrigger.DATE_ATTRIBUTE:
        attribute = automation.trigger_attribute.label if automation.trigger_attribute_id else "(no attribute)"
        offset = automation.trigger_offset_days
        if offset == 0:
            when = f"on the day of {attribute}"
        else:
            days = f"{abs(offset)} day{'' if abs(offset) == 1 else 's'}"
            when = f"{days} {'after' if offset > 0 else 'before'} {attribute}"
        return f"Every year {when}, at {automation.trigger_hour:02d}:00"
    return f"When the API receives the event “{automation.trigger_event}”"
