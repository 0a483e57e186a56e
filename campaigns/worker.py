"""The worker loop of a send: claim a batch, re-check each recipient, send within the shared rate, record.

A claimed batch is sent in small windows. For each window the worker reserves that many slots of the shared
rate in one Redis call, then in one commit writes the previous window's outcomes and marks this window's rows
as attempting, then makes the SES calls: each at its own slot, up to ``SEND_CONCURRENCY`` at a time while the
process waits for SES rather than working. No database transaction is open during an SES call, and a worker
that dies leaves at most one window of rows in doubt (``unknown``), never a row sent twice.
"""

import logging
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from subscribers.models import SubscriptionStatus, Suppression, SuppressionScope
from subscribers.ses import (
    SesOutcomeUnknown,
    SesPermanentError,
    SesTransientError,
    ses_max_send_rate,
    ses_send_email_client,
    ses_send_raw,
)

from .models import Delivery, DeliveryState, Send, SendState
from .personalise import campaign_message_build
from .rendering import RenderedCampaign, rendered_from_sources
from .sending import (
    Outcome,
    deliveries_attempting,
    deliveries_lease_renew,
    deliveries_record,
    delivery_claim_batch,
    delivery_release,
    send_finish_if_done,
    send_pause,
)
from .throttle import SendRateLimiter

logger = logging.getLogger(__name__)
QUOTA_PAUSE_REASON = "The SES daily sending quota is used up; the send resumes when quota is available again."
# A window's slots cover at most this much of the shared schedule, so that at low rates one worker does
# not hold the whole fleet's next second.
WINDOW_SECONDS = 0.1


def worker_id_new() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _is_daily_quota(outcome: Outcome) -> bool:
    return outcome.state == DeliveryState.QUEUED and "daily message quota" in outcome.reason.lower()


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


@dataclass(frozen=True)
class _Message:
    row: Delivery
    raw: bytes


def _build(rendered: RenderedCampaign, row: Delivery) -> bytes:
    return campaign_message_build(rendered=rendered, to=row.subscriber.email, subscription=row.subscription)


def _send_one(*, send_id: int, sender: str, message: _Message) -> Outcome:
    row = message.row
    try:
        message_id = ses_send_raw(
            raw_message=message.raw,
            to=row.subscriber.email,
            sender=sender,
            tags={"send": str(send_id), "delivery": str(row.pk)},
        )
    except SesOutcomeUnknown as err:
        return Outcome(row.pk, DeliveryState.UNKNOWN, reason=str(err))
    except SesTransientError as err:
        return Outcome(row.pk, DeliveryState.QUEUED, reason=str(err), attempts=row.attempts)
    except SesPermanentError as err:
        return Outcome(row.pk, DeliveryState.FAILED, reason=str(err))
    return Outcome(row.pk, DeliveryState.SENT, ses_message_id=message_id)


# Calls open at once help only while the process waits for SES. When it is busy most of a window (a nearby
# endpoint, a loaded machine), threads would only contend for the interpreter: calls go one after another.
SEQUENTIAL_WHEN_BUSY = 0.75


class _Window:
    """Sends one window's messages, each at its reserved slot, up to ``concurrency`` calls at a time.

    It keeps a running average of how busy the process was (CPU time over wall time) during its windows and
    makes calls one after another while that is above ``SEQUENTIAL_WHEN_BUSY``.
    """

    def __init__(self, *, send_id: int, rendered: RenderedCampaign, concurrency: int):
        self.send_id, self.sender = send_id, rendered.sender
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="ses") if concurrency > 1 else None
        self.busy: float | None = None

    def concurrent(self) -> bool:
        return self.pool is not None and (self.busy is None or self.busy < SEQUENTIAL_WHEN_BUSY)

    def send(self, messages: list[_Message], *, interval: float) -> list[Outcome]:
        start, cpu = time.monotonic(), time.process_time()  # the first slot: the reservation was waited for

        def at_slot(numbered: tuple[int, _Message]) -> Outcome:
            number, message = numbered
            delay = start + number * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            return _send_one(send_id=self.send_id, sender=self.sender, message=message)

        if self.concurrent():
            outcomes = list(self.pool.map(at_slot, enumerate(messages)))
        else:
            outcomes = [at_slot(numbered) for numbered in enumerate(messages)]
        wall = time.monotonic() - start
        if wall > 0:
            busy = (time.process_time() - cpu) / wall
            self.busy = busy if self.busy is None else 0.7 * self.busy + 0.3 * busy
        return outcomes

    def close(self) -> None:
        if self.pool:
            self.pool.shutdown()


def worker_warm() -> None:
    """What the first send in a process would otherwise pay for (a few hundred milliseconds before its first
    message): Django's URL resolver, built on the first link, and the SES client. Called when a worker process
    starts."""
    from subscribers.links import token_path

    for name in ("newsletter:unsubscribe", "newsletter:preferences", "campaigns:view_in_browser"):
        token_path(name, "warm")
    ses_send_email_client()


def _is_sending(send_id: int) -> bool:
    return Send.objects.filter(pk=send_id, state=SendState.SENDING).exists()


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
    ses_send_email_client()  # made here, once: creating boto3 clients from several threads at once is not safe
    limiter = SendRateLimiter(account=settings.SES_REGION, rate_per_second=ses_max_send_rate())
    window_size = max(1, min(settings.SEND_IN_FLIGHT, int(limiter.rate_per_second * WINDOW_SECONDS)))
    window = _Window(send_id=send_id, rendered=rendered, concurrency=min(settings.SEND_CONCURRENCY, window_size))
    accepted = 0
    try:
        while _is_sending(send_id):
            ids = delivery_claim_batch(send_id=send_id, worker_id=worker_id, size=settings.SEND_BATCH_SIZE)
            if not ids:
                break
            renew_at = time.monotonic() + settings.SEND_LEASE_SECONDS / 2
            rows = list(Delivery.objects.filter(pk__in=ids).select_related("subscriber", "subscription").order_by("pk"))
            for row in rows:  # one person, loaded once (joining the subscriber twice cost a model per row)
                if row.subscription and row.subscription.subscriber_id == row.subscriber_id:
                    row.subscription.subscriber = row.subscriber
            ineligible = _ineligible(rows)
            # Outcomes not yet written: they go to the database with the next window's "attempting" mark.
            unwritten = [Outcome(pk, DeliveryState.SKIPPED, reason=reason) for pk, reason in ineligible.items()]
            eligible = [row for row in rows if row.pk not in ineligible]
            stopped = False
            for first in range(0, len(eligible), window_size):
                part = eligible[first : first + window_size]
                messages = [_Message(row, _build(rendered, row)) for row in part]
                reservation = limiter.acquire(count=len(messages))
                if time.monotonic() > renew_at:
                    deliveries_lease_renew(send_id=send_id, worker_id=worker_id)
                    renew_at = time.monotonic() + settings.SEND_LEASE_SECONDS / 2
                with transaction.atomic():
                    deliveries_record(outcomes=unwritten)
                    unwritten = []
                    marked = deliveries_attempting(send_id=send_id, worker_id=worker_id, ids=[row.pk for row in part])
                if not marked and not _is_sending(send_id):
                    stopped = True  # paused or cancelled: stop within one window
                    break
                if len(marked) < len(part):  # rows taken back by the sweeper: another worker may send them
                    kept = set(marked)
                    messages = [m for m in messages if m.row.pk in kept]
                unwritten = window.send(messages, interval=reservation.interval)
                accepted += sum(o.state == DeliveryState.SENT for o in unwritten)
                if any(_is_daily_quota(o) for o in unwritten):
                    deliveries_record(outcomes=unwritten)
                    unwritten = []
                    send_pause(send=send, reason=QUOTA_PAUSE_REASON)
                    stopped = True
                    break
            deliveries_record(outcomes=unwritten)
            delivery_release(ids=ids, worker_id=worker_id)
            if stopped:
                break
    finally:
        window.close()
    send_finish_if_done(send_id=send_id)
    return accepted
