"""The worker loop of a send: claim a batch, re-check each recipient, send within the shared rate, record.

No database transaction is open during an SES call: claiming, the "attempting" mark and each outcome are
separate short writes.
"""

import logging
import os
import socket
import uuid
from functools import partial

from django.conf import settings
from django.db import transaction

from subscribers.models import SubscriptionStatus, Suppression, SuppressionScope
from subscribers.ses import SesOutcomeUnknown, SesPermanentError, SesTransientError, ses_max_send_rate, ses_send_raw

from .models import Delivery, DeliveryState, Send, SendState
from .personalise import campaign_message_build
from .rendering import rendered_from_sources
from .sending import (
    delivery_attempting,
    delivery_claim_batch,
    delivery_finish,
    delivery_release,
    delivery_retry_later,
    send_finish_if_done,
    send_pause,
)
from .throttle import SendRateLimiter

logger = logging.getLogger(__name__)
QUOTA_PAUSE_REASON = "The SES daily sending quota is used up; the send resumes when quota is available again."


def worker_id_new() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _is_daily_quota(err: SesTransientError) -> bool:
    return "daily message quota" in str(err).lower()


def _ineligible(rows: list[Delivery]) -> dict[int, str]:
    """Rows whose recipient may no longer be mailed, with the reason: checked for exactly these rows."""
    hmacs = {row.subscriber.address_hmac for row in rows if row.subscriber}
    suppressed = set(
        Suppression.objects.filter(
            address_hmac__in=hmacs, scope__in=(SuppressionScope.MARKETING, SuppressionScope.ALL)
        ).values_list("address_hmac", flat=True)
    )
    reasons = {}
    for row in rows:
        if row.subscriber is None or row.subscription is None:
            reasons[row.pk] = "recipient erased"
        elif row.subscription.status != SubscriptionStatus.ACTIVE:
            reasons[row.pk] = "unsubscribed before sending"
        elif row.subscriber.address_hmac in suppressed:
            reasons[row.pk] = "address suppressed before sending"
    return reasons


def send_work(*, send_id: int, worker_id: str | None = None) -> int:
    """Work on one send until nothing is left to claim or the send stops. Returns messages SES accepted."""
    worker_id = worker_id or worker_id_new()
    send = Send.objects.get(pk=send_id)
    if send.state != SendState.SENDING:
        return 0
    rendered = rendered_from_sources(
        page_id=send.page_id,
        revision_id=send.revision_id,
        subject=send.subject_source,
        html=send.html_source,
        text=send.text_source,
        sender=send.sender,
        reply_to=send.reply_to,
    )
    limiter = SendRateLimiter(account=settings.SES_REGION, rate_per_second=ses_max_send_rate())
    accepted = 0
    pending = None  # the last row's outcome, written with the next row's mark (or at the end of the batch)
    while Send.objects.filter(pk=send_id, state=SendState.SENDING).exists():
        ids = delivery_claim_batch(send_id=send_id, worker_id=worker_id, size=settings.SEND_BATCH_SIZE)
        if not ids:
            break
        rows = list(
            Delivery.objects.filter(pk__in=ids).select_related("subscriber", "subscription__subscriber").order_by("pk")
        )
        ineligible = _ineligible(rows)
        for index, row in enumerate(rows):
            if row.pk in ineligible:
                delivery_finish(delivery_id=row.pk, state=DeliveryState.SKIPPED, reason=ineligible[row.pk])
                continue
            if index and index % 10 == 0 and not Send.objects.filter(pk=send_id, state=SendState.SENDING).exists():
                break  # paused or cancelled: stop within a few messages
            raw = campaign_message_build(rendered=rendered, to=row.subscriber.email, subscription=row.subscription)
            limiter.acquire()
            # One commit per message: the previous row's outcome and this row's "attempting" mark together.
            with transaction.atomic():
                if pending:
                    pending()
                delivery_attempting(delivery_id=row.pk)
            pending = None
            try:
                message_id = ses_send_raw(
                    raw_message=raw,
                    to=row.subscriber.email,
                    sender=rendered.sender,
                    tags={"send": str(send_id), "delivery": str(row.pk)},
                )
            except SesOutcomeUnknown as err:
                pending = partial(delivery_finish, delivery_id=row.pk, state=DeliveryState.UNKNOWN, reason=str(err))
            except SesTransientError as err:
                pending = partial(delivery_retry_later, delivery_id=row.pk, attempts=row.attempts, reason=str(err))
                if _is_daily_quota(err):
                    pending()
                    pending = None
                    send_pause(send=send, reason=QUOTA_PAUSE_REASON)
                    break
            except SesPermanentError as err:
                pending = partial(delivery_finish, delivery_id=row.pk, state=DeliveryState.FAILED, reason=str(err))
            else:
                pending = partial(
                    delivery_finish, delivery_id=row.pk, state=DeliveryState.SENT, ses_message_id=message_id
                )
                accepted += 1
        if pending:
            pending()
            pending = None
        delivery_release(ids=ids, worker_id=worker_id)
    send_finish_if_done(send_id=send_id)
    return accepted
