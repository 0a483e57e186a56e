"""State changes of a send and of its delivery ledger (DESIGN.md section 6).

Celery messages only wake workers up; the ledger is the truth. A row is claimed under a lease, marked
``attempted_at`` just before its SES call, and finished with the outcome. A worker that dies leaves rows
whose lease expires: those never attempted go back to the queue, those attempted become ``unknown`` and are
never re-sent automatically (SES has no idempotency key), so nobody receives a campaign twice.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .audience import audience_snapshot
from .compliance import campaign_checks
from .models import CampaignPage, Delivery, DeliveryState, Send, SendState
from .rendering import campaign_render

logger = logging.getLogger(__name__)

OPEN_STATES = (DeliveryState.QUEUED, DeliveryState.CLAIMED)


class SendStateError(Exception):
    """The send cannot do that in its current state; the message says why."""


def send_create(*, page: CampaignPage, user=None) -> Send:
    """A draft send of the campaign's published revision."""
    revision = page.live_revision or page.latest_revision
    if revision is None:
        raise SendStateError("Publish the campaign before sending it.")
    return Send.objects.create(page=page, revision=revision, created_by=user)


def send_start(*, send: Send) -> Send:
    """Snapshot the audience into the ledger, store the render, and wake workers after commit.

    Idempotent: starting a send that has already started (a double click, a retried request, a scheduler
    that fires twice) changes nothing and creates no second send.
    """
    with transaction.atomic():
        send = Send.objects.select_for_update().get(pk=send.pk)
        if send.state not in (SendState.DRAFT, SendState.SCHEDULED):
            return send
        if Send.objects.filter(page_id=send.page_id, state__in=(SendState.SENDING, SendState.PAUSED)).exists():
            raise SendStateError("This campaign is already being sent.")
        page = send.revision.as_object()
        rendered = campaign_render(page=page)
        failed = [c.name for c in campaign_checks(rendered=rendered, subject=page.subject) if not c.passed]
        if failed:
            raise SendStateError("The campaign does not pass its checks: " + ", ".join(failed) + ".")
        send.subject_source, send.html_source, send.text_source = (
            rendered.subject_source,
            rendered.html_source,
            rendered.text_source,
        )
        send.sender, send.reply_to = rendered.sender, rendered.reply_to
        send.total = audience_snapshot(send_id=send.pk, topic_ids=[t.pk for t in page.topics.all()])
        send.state, send.started_at = SendState.SENDING, timezone.now()
        send.save()
        transaction.on_commit(lambda: _wake_workers(send.pk))
    return send


def _wake_workers(send_id: int, count: int | None = None) -> None:
    from .tasks import send_work_task

    for _ in range(count or settings.SEND_WORKERS_PER_SEND):
        send_work_task.delay(send_id=send_id)


def send_pause(*, send: Send, reason: str = "Paused by staff") -> Send:
    """Workers stop before their next message; claimed rows they had not attempted go back to the queue."""
    Send.objects.filter(pk=send.pk, state=SendState.SENDING).update(state=SendState.PAUSED, pause_reason=reason[:255])
    send.refresh_from_db()
    return send


def send_resume(*, send: Send) -> Send:
    updated = Send.objects.filter(pk=send.pk, state=SendState.PAUSED).update(state=SendState.SENDING, pause_reason="")
    if updated:
        transaction.on_commit(lambda: _wake_workers(send.pk))
    send.refresh_from_db()
    return send


def send_cancel(*, send: Send) -> Send:
    """Stop for good: every row not yet attempted is skipped."""
    with transaction.atomic():
        updated = Send.objects.filter(
            pk=send.pk, state__in=(SendState.DRAFT, SendState.SCHEDULED, SendState.SENDING, SendState.PAUSED)
        ).update(state=SendState.CANCELLED, finished_at=timezone.now())
        if updated:
            send.deliveries.filter(state=DeliveryState.QUEUED).update(
                state=DeliveryState.SKIPPED, reason="send cancelled", finished_at=timezone.now()
            )
    send.refresh_from_db()
    return send


def send_finish_if_done(*, send_id: int) -> bool:
    """A send is ``sent`` only when no row is queued or claimed any more."""
    if Delivery.objects.filter(send_id=send_id, state__in=OPEN_STATES).exists():
        return False
    return bool(
        Send.objects.filter(pk=send_id, state=SendState.SENDING).update(
            state=SendState.SENT, finished_at=timezone.now()
        )
    )


def delivery_claim_batch(*, send_id: int, worker_id: str, size: int) -> list[int]:
    """Claim up to ``size`` queued rows in id order, under a lease, skipping rows other workers hold."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(send_id=send_id, state=DeliveryState.QUEUED)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:size]
        )
        if ids:
            Delivery.objects.filter(pk__in=ids, state=DeliveryState.QUEUED).update(
                state=DeliveryState.CLAIMED,
                claimed_by=worker_id,
                lease_expires_at=now + timedelta(seconds=settings.SEND_LEASE_SECONDS),
            )
    return ids


def delivery_release(*, ids: list[int], worker_id: str) -> int:
    """Give back claimed rows this worker has not attempted (on pause, or when it stops early)."""
    return Delivery.objects.filter(
        pk__in=ids, claimed_by=worker_id, state=DeliveryState.CLAIMED, attempted_at__isnull=True
    ).update(state=DeliveryState.QUEUED, claimed_by="", lease_expires_at=None)


def delivery_attempting(*, delivery_id: int) -> None:
    Delivery.objects.filter(pk=delivery_id).update(attempted_at=timezone.now())


def delivery_finish(*, delivery_id: int, state: str, reason: str = "", ses_message_id: str = "") -> None:
    Delivery.objects.filter(pk=delivery_id).update(
        state=state,
        reason=reason[:255],
        ses_message_id=ses_message_id,
        finished_at=timezone.now(),
        lease_expires_at=None,
    )


def delivery_retry_later(*, delivery_id: int, attempts: int, reason: str) -> None:
    """SES refused for now (throttling, 5xx, no connection): back to the queue with exponential backoff."""
    delay = min(2**attempts, 300)
    Delivery.objects.filter(pk=delivery_id).update(
        state=DeliveryState.QUEUED,
        attempts=attempts + 1,
        not_before=timezone.now() + timedelta(seconds=delay),
        attempted_at=None,
        claimed_by="",
        lease_expires_at=None,
        reason=reason[:255],
    )


def deliveries_sweep() -> dict[str, int]:
    """Expired leases: rows never attempted go back to the queue; attempted ones become ``unknown``."""
    now = timezone.now()
    expired = Delivery.objects.filter(state=DeliveryState.CLAIMED, lease_expires_at__lt=now)
    requeued = expired.filter(attempted_at__isnull=True).update(
        state=DeliveryState.QUEUED, claimed_by="", lease_expires_at=None
    )
    unknown = expired.filter(attempted_at__isnull=False).update(
        state=DeliveryState.UNKNOWN, reason="worker lost during the SES call", finished_at=now
    )
    if unknown:
        logger.warning("%s deliveries are in doubt after a worker was lost; they will not be re-sent.", unknown)
    return {"requeued": requeued, "unknown": unknown}


def sends_sweep() -> dict[str, int]:
    """The beat task's work: expire leases, start due schedules, resume after the daily quota, wake workers.

    Waking workers for every send with queued rows is what makes lost or duplicated Celery messages harmless.
    """
    from .worker import QUOTA_PAUSE_REASON

    result = deliveries_sweep()
    now = timezone.now()
    for send in Send.objects.filter(state=SendState.SCHEDULED, scheduled_for__lte=now):
        try:
            send_start(send=send)
        except SendStateError as err:
            logger.error("Scheduled send %s did not start: %s", send.pk, err)
    quota_paused = Send.objects.filter(state=SendState.PAUSED, pause_reason=QUOTA_PAUSE_REASON)
    if quota_paused.exists() and _quota_available():
        for send in quota_paused:
            send_resume(send=send)
    woken = 0
    for send_id in Send.objects.filter(state=SendState.SENDING).values_list("pk", flat=True):
        if Delivery.objects.filter(send_id=send_id, state=DeliveryState.QUEUED).exists():
            _wake_workers(send_id, count=1)
            woken += 1
        else:
            send_finish_if_done(send_id=send_id)
    return {**result, "woken": woken}


def _quota_available() -> bool:
    from subscribers.ses import SesError, ses_send_quota

    try:
        quota = ses_send_quota()
    except SesError:
        return False
    return quota["SentLast24Hours"] < quota["Max24HourSend"]
