"""What automations hold about a person: their runs and the automation emails sent to them.

Registered with ``subscribers.personal_data`` when the app starts. The export lists each run and each email; the
eraser takes the person out of every automation (their runs are deleted, so no step is taken for them again) and
keeps the ledger rows without them (no subscriber, no run, no reason naming an address), so each email's aggregate
results do not change. Rows not yet attempted are skipped.
"""

from django.db.models import Q
from django.utils import timezone

from automations.models import AutomationDelivery, AutomationRun
from campaigns.models import DeliveryState
from subscribers.personal_data import ErasureTarget
from subscribers.personal_data import export_time as _when

ERASED_REASON = "recipient erased"


def automations_export(subscriber_id: int) -> dict[str, list[dict]]:
    runs = AutomationRun.objects.filter(subscriber_id=subscriber_id).select_related("automation").order_by("pk")
    rows = (
        AutomationDelivery.objects.filter(subscriber_id=subscriber_id)
        .select_related("email", "step__automation")
        .order_by("pk")
    )
    return {
        "automations": [
            {
                "automation": run.automation.name,
                "state": run.get_state_display(),
                "step": run.position,
                "left_because": run.get_left_reason_display() if run.left_reason else "",
                "entered_at": _when(run.started_at),
                "finished_at": _when(run.finished_at),
            }
            for run in runs
        ],
        "automation_emails_sent": [
            {
                "automation": row.step.automation.name,
                "email": row.email.title,
                "subject": row.email.subject,
                "state": row.get_state_display(),
                "sent_at": _when(row.finished_at) if row.state == DeliveryState.SENT else "",
                "delivered_at": _when(row.delivered_at),
                "bounce": row.get_bounce_type_display(),
                "bounced_at": _when(row.bounced_at),
                "complained_at": _when(row.complained_at),
            }
            for row in rows
        ],
    }


def automations_erase(target: ErasureTarget) -> dict[str, int]:
    counts = {"automation_runs": 0, "automation_deliveries": 0}
    if target.subscriber_id is None:
        return counts
    rows = AutomationDelivery.objects.filter(subscriber_id=target.subscriber_id)
    rows.filter(Q(state=DeliveryState.QUEUED) | Q(state=DeliveryState.CLAIMED, attempted_at__isnull=True)).update(
        state=DeliveryState.SKIPPED, reason=ERASED_REASON, finished_at=timezone.now()
    )
    rows.filter(reason__contains="@").update(reason=ERASED_REASON)
    counts["automation_deliveries"] = rows.update(subscriber=None, run=None)
    counts["automation_runs"], _ = AutomationRun.objects.filter(subscriber_id=target.subscriber_id).delete()
    return counts
