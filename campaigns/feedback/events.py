"""SES events, received through SNS, and what each one changes (DESIGN.md sections 6 and 7).

The hook stores a verified event (``feedback_receive``) and a task applies it after commit
(``feedback_process``), once: a repeated SNS MessageId, or the same SES event arriving through a second
subscription, is stored once.

Event types, as SES names them in event publishing (``eventType``) and in identity notifications
(``notificationType``): Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay, RenderingFailure,
Subscription, Open, Click. One event may name several recipients; each is handled.

- Send and Delivery resolve a row left ``unknown`` by a lost worker: SES did accept it. Delivery also
  records when it was delivered.
- A permanent bounce suppresses the address for all email and skips its queued rows; transient and
  undetermined bounces are recorded, and ``SOFT_BOUNCE_LIMIT`` of them within ``SOFT_BOUNCE_WINDOW_DAYS``
  suppress the address too.
- A complaint (with or without a feedback type) suppresses marketing and withdraws every subscription.
- Reject and RenderingFailure mark the row failed. The rest are stored and change nothing.
- Once a bounce or complaint is committed, the reputation guard is due to check the rolling rates within a few
  seconds: one check for a whole burst, which counts every event of it (``campaigns.feedback.reputation``).
"""

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.errors import CampaignError
from campaigns.models import BounceType, Delivery, DeliveryState, FeedbackEvent, SoftBounce
from campaigns.personal_data import event_payload_without_erased
from subscribers.addresses import address_hmac, address_spellings
from subscribers.outbound import outbound_event_publish
from subscribers.services import address_bounced, address_complained

logger = logging.getLogger(__name__)


class FeedbackError(CampaignError, ValueError):
    """The notification is genuine but does not carry an SES event we can read."""


def _event_type(event: dict) -> str:
    kind = event.get("eventType") or event.get("notificationType")
    if not isinstance(kind, str) or not kind:
        raise FeedbackError("The notification carries no SES event type.")
    return kind


def _event_key(kind: str, event: dict) -> str:
    """What makes this SES event itself unique, whichever SNS subscription brought it."""
    mail_id = str(event.get("mail", {}).get("messageId", ""))
    detail = event.get(kind[0].lower() + kind[1:], {})
    if not isinstance(detail, dict):
        detail = {}
    marker = detail.get("feedbackId") or detail.get("timestamp") or ""
    if not mail_id:
        marker = json.dumps(event, sort_keys=True)
    return hashlib.sha256(f"{kind}\n{mail_id}\n{marker}".encode()).hexdigest()


def feedback_receive(*, sns_message: dict) -> FeedbackEvent | None:
    """Store one verified SNS notification's SES event and queue its processing; None for a duplicate.

    Raises FeedbackError (and stores nothing) when the notification's Message is not an SES event.
    """
    try:
        event = json.loads(sns_message["Message"])
    except (KeyError, TypeError, ValueError) as err:
        raise FeedbackError("The notification's Message is not JSON.") from err
    if not isinstance(event, dict):
        raise FeedbackError("The notification's Message is not an SES event.")
    kind = _event_type(event)
    key = _event_key(kind, event)
    duplicate = Q(sns_message_id=sns_message["MessageId"]) | Q(event_key=key)
    try:
        with transaction.atomic():
            if FeedbackEvent.objects.filter(duplicate).exists():
                return None
            stored = FeedbackEvent.objects.create(
                sns_message_id=sns_message["MessageId"],
                event_key=key,
                event_type=kind,
                ses_message_id=str(event.get("mail", {}).get("messageId", ""))[:100],
                topic_arn=sns_message["TopicArn"],
                payload=event,
            )
    except IntegrityError:
        return None  # the same event, stored by a concurrent request a moment ago
    from campaigns.tasks import feedback_process_task

    transaction.on_commit(lambda: feedback_process_task.delay(event_id=stored.pk))
    return stored


def _when(value) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return parsed or timezone.now()


def _deliveries(event: dict):
    """The ledger rows this event is about: by our ``delivery`` tag, else by SES's message id."""
    mail = event.get("mail", {})
    tags = mail.get("tags") or {}
    ids = [int(v) for v in tags.get("delivery", []) if str(v).isdigit()]
    if ids:
        return Delivery.objects.filter(pk__in=ids)
    if mail.get("messageId"):
        return Delivery.objects.filter(ses_message_id=mail["messageId"])
    return Delivery.objects.none()


def _resolve_unknown(event: dict) -> int:
    """SES had the message: a row in doubt is ``sent``. So is one staff sent again after it stayed in doubt, while
    its second attempt has not begun (the event came late): the second email is then never sent."""
    message_id = str(event.get("mail", {}).get("messageId", ""))[:100]
    resent_not_begun = Q(
        state__in=(DeliveryState.QUEUED, DeliveryState.CLAIMED), resent_at__isnull=False, attempted_at__isnull=True
    )
    return (
        _deliveries(event)
        .filter(Q(state=DeliveryState.UNKNOWN) | resent_not_begun)
        .update(
            state=DeliveryState.SENT,
            ses_message_id=message_id,
            reason="resolved by an SES event",
            finished_at=Coalesce("finished_at", Value(timezone.now())),
            claimed_by="",
            lease_expires_at=None,
        )
    )


def _on_send(event: dict) -> None:
    _resolve_unknown(event)


def _on_delivery(event: dict) -> None:
    _resolve_unknown(event)
    _deliveries(event).update(delivered_at=_when(event.get("delivery", {}).get("timestamp")))


def _recipients(items) -> list[str]:
    return [r["emailAddress"] for r in items or [] if isinstance(r, dict) and r.get("emailAddress")]


def _permanent(bounce_type: str, recipient: dict) -> bool:
    """A recipient of a permanent bounce that failed for good: its status, when given, is 5.x.x, not 4.x.x."""
    if bounce_type != "Permanent":
        return False
    return recipient.get("action", "failed") == "failed" and not str(recipient.get("status", "")).startswith("4")


def _on_bounce(event: dict) -> None:
    bounce = event.get("bounce", {})
    bounce_type = bounce.get("bounceType")
    when = _when(bounce.get("timestamp"))
    detail = f"SES bounce: {bounce_type or '?'}/{bounce.get('bounceSubType') or '?'}"
    hard = False
    for recipient in bounce.get("bouncedRecipients") or []:
        email = recipient.get("emailAddress") if isinstance(recipient, dict) else None
        if not email:
            continue
        if _permanent(bounce_type, recipient):
            hard = True
            _suppress_bounced(email=email, detail=detail)
            continue
        hmac = address_hmac(email)
        SoftBounce.objects.create(address_hmac=hmac, bounced_at=when)
        since = timezone.now() - timedelta(days=settings.SOFT_BOUNCE_WINDOW_DAYS)
        count = SoftBounce.objects.filter(address_hmac=hmac, bounced_at__gte=since).count()
        if count >= settings.SOFT_BOUNCE_LIMIT:
            _suppress_bounced(email=email, detail=f"{count} soft bounces in {settings.SOFT_BOUNCE_WINDOW_DAYS} days")
    kind = BounceType.PERMANENT if hard else BounceType.TRANSIENT
    if not hard and bounce_type not in ("Permanent", "Transient"):
        kind = BounceType.UNDETERMINED
    _deliveries(event).update(bounce_type=kind, bounced_at=when)
    _deliveries_announce(event, type="delivery.bounced", bounce_type=str(kind))


def _deliveries_announce(event: dict, *, type: str, **data) -> None:
    """One event for other systems (outgoing webhooks) per ledger row the SES event is about, with its send and the
    subscriber's public id; never the address SES names."""
    for row in _deliveries(event).select_related("subscriber").only("pk", "send_id", "subscriber"):
        outbound_event_publish(type=type, subscriber=row.subscriber, data={"send": row.send_id, **data})


def _suppress_bounced(*, email: str, detail: str) -> None:
    address_bounced(email=email, detail=detail)
    Delivery.objects.filter(
        subscriber__email__in=address_spellings(email), state__in=(DeliveryState.QUEUED, DeliveryState.CLAIMED)
    ).filter(attempted_at__isnull=True).update(
        state=DeliveryState.SKIPPED, reason="address bounced", finished_at=timezone.now()
    )


def _on_complaint(event: dict) -> None:
    complaint = event.get("complaint", {})
    detail = f"SES complaint: {complaint.get('complaintFeedbackType') or 'no feedback type'}"
    for email in _recipients(complaint.get("complainedRecipients")):
        address_complained(email=email, detail=detail)
    _deliveries(event).update(complained_at=_when(complaint.get("timestamp")))
    _deliveries_announce(event, type="delivery.complained", feedback_type=complaint.get("complaintFeedbackType") or "")


def _on_failure(event: dict) -> None:
    kind = _event_type(event)
    reason = {"Reject": "SES rejected the message after accepting it", "RenderingFailure": "SES could not render it"}
    _deliveries(event).filter(state__in=(DeliveryState.SENT, DeliveryState.UNKNOWN)).update(
        state=DeliveryState.FAILED, reason=reason[kind]
    )


# Other ledgers that send through SES (automations) register a listener here when their app starts: campaigns never
# import them. Each is called with every event, inside the transaction that applies it, after campaigns' own handler
# (so the address is already suppressed for a bounce or complaint), and settles its own rows by its own tag.
FeedbackListener = Callable[..., None]
_listeners: dict[str, FeedbackListener] = {}


def feedback_listener_register(name: str, listener: FeedbackListener) -> None:
    """Register (or replace) ``listener(*, event_type: str, event: dict)``, called for every SES event applied."""
    _listeners[name] = listener


HANDLERS = {
    "Send": _on_send,
    "Delivery": _on_delivery,
    "Bounce": _on_bounce,
    "Complaint": _on_complaint,
    "Reject": _on_failure,
    "RenderingFailure": _on_failure,
}


def feedback_process(*, event_id: int) -> bool:
    """Apply one stored event, once, then drop the address of any erased recipient from what is kept.
    Returns False when it was already processed."""
    from campaigns.feedback.reputation import reputation_check_schedule

    with transaction.atomic():
        stored = FeedbackEvent.objects.select_for_update().get(pk=event_id)
        if stored.processed_at:
            return False
        handler = HANDLERS.get(stored.event_type)
        if handler:
            handler(stored.payload)
        for listener in list(_listeners.values()):
            listener(event_type=stored.event_type, event=stored.payload)
        stored.payload = event_payload_without_erased(stored.payload)
        stored.processed_at = timezone.now()
        stored.save(update_fields=["processed_at", "payload"])
    if stored.event_type in ("Bounce", "Complaint"):
        # After commit (at once in the task, which runs outside any transaction): the check must find this event.
        transaction.on_commit(reputation_check_schedule)
    return True
