"""Staff actions on campaigns in Wagtail's audit log (Reports > Site history), each under a registered action type.

A send's own history (``SendEvent``, on its progress page) says what happened to that send; this log answers across
the whole site who did what and when, filterable by user and action. Actions the platform takes by itself (the
reputation guard's pause, the scheduler's start) have no person to name and are not logged here; their send history
says why they happened. The mechanism is ``subscribers.audit.ActionLog``, shared by both apps.
"""

from campaigns.models import Send
from subscribers.audit import ActionLog

CAMPAIGN_LOG = ActionLog(
    {
        "campaigns.send_now": ("Send campaign", "Started sending the campaign"),
        "campaigns.send_schedule": ("Schedule campaign", "Scheduled the campaign"),
        "campaigns.send_pause": ("Pause send", "Paused the send"),
        "campaigns.send_resume": ("Resume send", "Resumed the send"),
        "campaigns.send_cancel": ("Cancel send", "Cancelled the send"),
        "campaigns.send_unconfirmed_resend": ("Send again to rows in doubt", "Sent again to unconfirmed recipients"),
        "campaigns.test_send": ("Send test", "Sent a test of the campaign"),
        "campaigns.segment_create": ("Create segment", "Created the segment"),
        "campaigns.segment_update": ("Change segment", "Changed the segment"),
        "campaigns.segment_delete": ("Delete segment", "Deleted the segment"),
    }
)


def campaign_action_log(*, instance, action: str, user, data: dict | None = None) -> None:
    """Record ``user``'s ``action`` on ``instance`` (a send, or a campaign page). Nothing for the platform's own
    actions (``user`` None). Call inside the transaction of the change, so the entry and the change stand together."""
    # A send's own name says its state, which changes; the log names it by what stays true.
    title = f"Send {instance.pk} of {instance.page.title}" if isinstance(instance, Send) else None
    CAMPAIGN_LOG.write(instance=instance, action=action, user=user, data=data, title=title)
