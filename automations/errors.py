"""The errors automations raise on purpose: a caller (the admin, the API, a task) catches these and shows the
message, without catching programming errors."""


class AutomationError(Exception):
    """An automation action was refused; the message says why and nothing was changed."""


class AutomationStateError(AutomationError):
    """The automation is not in a state that allows the action (activating a draft without steps, pausing a draft)."""


class StepReachedError(AutomationError):
    """A step that someone has already reached (or passed) cannot be changed or removed."""
