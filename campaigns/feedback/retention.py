"""Retention for campaigns: the raw SES events we store (they name recipients) are emptied after
``RETENTION_SES_EVENT_DAYS``. The row stays, so a late duplicate of the same event is still recognised; what the
event meant (delivered, bounced, complained) was written to the delivery ledger when it was processed."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from campaigns.models import FeedbackEvent


def feedback_payloads_purge() -> int:
    cutoff = timezone.now() - timedelta(days=settings.RETENTION_SES_EVENT_DAYS)
    return (
        FeedbackEvent.objects.filter(received_at__lt=cutoff, processed_at__isnull=False)
        .exclude(payload={})
        .update(payload={})
    )
