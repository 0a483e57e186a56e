"""What campaigns hold about a person: their rows in the delivery ledger and stored SES events.

Registered with ``subscribers.personal_data`` when the app starts: an exporter (the emails sent to them, for
their copy of their data) and an eraser. Rows stay (a send's totals must not change),
without the person: no subscriber or subscription, no reason text that names an address; rows not yet sent are
skipped, so a send in progress never mails them. SES events that name one of the addresses keep their shape,
with the address replaced.
"""

from functools import reduce
from operator import or_

from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from campaigns.models import Delivery, DeliveryState, FeedbackEvent
from subscribers.addresses import address_hmac, email_normalise
from subscribers.models import Suppression, SuppressionReason, SuppressionScope
from subscribers.personal_data import ErasureTarget, text_scrub
from subscribers.personal_data import export_time as _when

ERASED_REASON = "recipient erased"


def campaigns_export(subscriber_id: int) -> dict[str, list[dict]]:
    rows = Delivery.objects.filter(subscriber_id=subscriber_id).select_related("send__page").order_by("send_id")
    return {
        "emails_sent": [
            {
                "campaign": row.send.page.title,
                "subject": row.send.subject_source,
                "state": row.get_state_display(),
                "sent_at": _when(row.finished_at) if row.state == DeliveryState.SENT else "",
                "delivered_at": _when(row.delivered_at),
                "bounce": row.get_bounce_type_display(),
                "bounced_at": _when(row.bounced_at),
                "complained_at": _when(row.complained_at),
                "first_clicked_at": _when(row.clicked_at),
            }
            for row in rows
        ]
    }


def campaigns_erase(target: ErasureTarget) -> dict[str, int]:
    counts = {"deliveries": 0, "deliveries_skipped": 0, "ses_events_scrubbed": 0}
    if target.subscriber_id is not None:
        rows = Delivery.objects.filter(subscriber_id=target.subscriber_id)
        counts["deliveries_skipped"] = rows.filter(
            Q(state=DeliveryState.QUEUED) | Q(state=DeliveryState.CLAIMED, attempted_at__isnull=True)
        ).update(
            state=DeliveryState.SKIPPED,
            reason=ERASED_REASON,
            claimed_by="",
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
        rows.filter(reason__contains="@").update(reason=ERASED_REASON)
        counts["deliveries"] = rows.update(subscriber=None, subscription=None)
    if target.emails:
        naming = reduce(or_, (Q(text__icontains=email) for email in target.emails))
        events = FeedbackEvent.objects.annotate(text=Cast("payload", TextField())).filter(naming)
        for event in events.only("pk", "payload"):
            event.payload = text_scrub(event.payload, target.emails)
            event.save(update_fields=["payload"])
            counts["ses_events_scrubbed"] += 1
    return counts


def event_payload_without_erased(payload: dict) -> dict:
    """An SES event's payload with the address of every recipient who has been erased replaced: an event
    can arrive days after the erasure (a late bounce) and must not bring the address back."""
    destinations = payload.get("mail", {}).get("destination") or []
    by_hmac = {address_hmac(email): email_normalise(email) for email in destinations if isinstance(email, str)}
    erased = Suppression.objects.filter(
        address_hmac__in=by_hmac, scope=SuppressionScope.ALL, reason=SuppressionReason.ERASED
    ).values_list("address_hmac", flat=True)
    emails = tuple(by_hmac[h] for h in erased)
    return text_scrub(payload, emails) if emails else payload
