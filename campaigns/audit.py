"""Staff actions on campaigns in Wagtail's audit log (Reports > Site history), each under a registered action type.

A send's own history (``SendEvent``, on its progress page) says what happened to that send; this log answers across
the whole site who did what and when, filterable by user and action. Actions the platform takes by itself (the
reputation guard's pause, the scheduler's start) have no person to name and are not logged here; their send history
says why they happened.
"""

from wagtail.log_actions import log

from campaigns.models import Send

# action type -> (its label in the report's filter, the sentence a log entry shows)
CAMPAIGN_LOG_ACTIONS = {
    "campaigns.send_now": ("Send campaign", "Started sending the campaign"),
    "campaigns.send_schedule": ("Schedule campaign", "Scheduled the campaign"),
    "campaigns.send_pause": ("Pause send", "Paused the send"),
    "campaigns.send_resume": ("Resume send", "Resumed the send"),
    "campaigns.send_cancel": ("Cancel send", "Cancelled the send"),
    "campaigns.send_unconfirmed_resend": ("Send again to rows in doubt", "Sent again to unconfirmed recipients"),
    "campaigns.test_send": ("Send test", "Sent a test of the campaign"),
}


def campaign_action_log(*, instance, action: str, user, data: dict | None = None) -> None:
    """Record ``user``'s ``action`` on ``instance`` (a send, or a campaign page). Nothing for the platform's own
    actions (``user`` None). Call inside the transaction of the change, so the entry and the change stand together."""
    if action not in CAMPAIGN_LOG_ACTIONS:
        raise ValueError(f"Unregistered campaign log action: {action}")
    if user is None:
        return
    # A send's own name says its state, which changes; the log names it by what stays true.
    title = f"Send {instance.pk} of {instance.page.title}" if isinstance(instance, Send) else None
    log(instance=instance, action=action, user=user, data=data or {}, title=title)


def campaign_log_actions_register(actions) -> None:
    """For the ``register_log_actions`` hook: every action type above, with its label and sentence."""
    for action, (label, message) in CAMPAIGN_LOG_ACTIONS.items():
        actions.register_action(action, label, message)
