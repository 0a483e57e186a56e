"""Staff actions on automations in Wagtail's audit log (Reports > Site history), through the shared ``ActionLog``.

The app registers these action types with Wagtail's ``register_log_actions`` hook when it starts (apps.py).
"""

from subscribers.audit import ActionLog

AUTOMATION_LOG = ActionLog(
    {
        "automations.create": ("Create automation", "Created the automation"),
        "automations.update": ("Change automation", "Changed the automation's name or trigger"),
        "automations.activate": ("Activate automation", "Activated the automation"),
        "automations.pause": ("Pause automation", "Paused the automation"),
        "automations.resume": ("Resume automation", "Resumed the automation"),
        "automations.step_add": ("Add automation step", "Added a step to the automation"),
        "automations.step_update": ("Change automation step", "Changed a step of the automation"),
        "automations.step_delete": ("Remove automation step", "Removed a step of the automation"),
        "automations.step_move": ("Move automation step", "Moved a step of the automation"),
        "automations.run_stop": ("Take someone out of an automation", "Took a person out of the automation"),
    }
)


def automation_action_log(*, automation, action: str, user, data: dict | None = None) -> None:
    """Record ``user``'s ``action`` on ``automation``, inside the transaction of the change (nothing for the
    platform's own actions). ``data`` never names a person."""
    AUTOMATION_LOG.write(instance=automation, action=action, user=user, data=data)
