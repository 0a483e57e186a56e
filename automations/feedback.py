"""SES events about automation emails: the rows of the automation ledger they name, by our ``automation_delivery``
tag (or SES's message id), settled as campaigns' ``feedback`` settles its own.

Registered with ``campaigns.feedback.events`` when the app starts. Suppressing a bounced or complaining address is
campaigns' handler's job and has happened before this runs, in the same transaction; each automation's next email
step then finds the suppression and the run leaves.
"""

from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from automations.models import AutomationDelivery
from campaigns.models import BounceType, DeliveryState

TAG = "automation_delivery"


def _rows(event: dict):
    mail = event.get("mail", {}) if isinstance(event, dict) else {}
    tags = mail.get("tags") or {}
    ids = [int(v) for v in tags.get(TAG, []) if str(v).isdigit()]
    if ids:
        return AutomationDelivery.objects.filter(pk__in=ids)
    if mail.get("messageId") and not tags.get("delivery"):  # a campaign's message is campaigns' own
        return AutomationDelivery.objects.filter(ses_message_id=str(mail["messageId"])[:100])
    return AutomationDelivery.objects.none()


def _when(value):
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return parsed or timezone.now()


def _resolve_unknown(event: dict) -> None:
    """SES had the message: a row in doubt was sent."""
    _rows(event).filter(state=DeliveryState.UNKNOWN).update(
        state=DeliveryState.SENT,
        ses_message_id=str(event.get("mail", {}).get("messageId", ""))[:100],
        reason="resolved by an SES event",
        finished_at=Coalesce("finished_at", Value(timezone.now())),
    )


def automation_feedback_apply(*, event_type: str, event: dict) -> None:
    """Apply one SES event to the automation ledger rows it is about (none, for a campaign's message)."""
    if event_type == "Send":
        _resolve_unknown(event)
    elif event_type == "Delivery":
        _resolve_unknown(event)
        _rows(event).update(delivered_at=_when(event.get("delivery", {}).get("timestamp")))
    elif event_type == "Bounce":
        bounce = event.get("bounce", {})
        kind = {"Permanent": BounceType.PERMANENT, "Transient": BounceType.TRANSIENT}.get(
            bounce.get("bounceType"), BounceType.UNDETERMINED
        )
        _rows(event).update(bounce_type=kind, bounced_at=_when(bounce.get("timestamp")))
    elif event_type == "Complaint":
        _rows(event).update(complained_at=_when(event.get("complaint", {}).get("timestamp")))
    elif event_type in ("Reject", "RenderingFailure"):
        _rows(event).filter(Q(state=DeliveryState.SENT) | Q(state=DeliveryState.UNKNOWN)).update(
            state=DeliveryState.FAILED, reason=f"SES event: {event_type}"
        )
