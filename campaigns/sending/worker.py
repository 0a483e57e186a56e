"""The worker loop of a send: claim a batch, re-check each recipient, send within the shared rate, record.

A worker keeps up to ``SEND_CONCURRENCY`` SES calls open at once. Whenever calls are free it takes the next few rows
(one at a time at low rates, up to the free calls at high rates, those whose slots fall within a few milliseconds),
takes their slots of the shared rate (reserved from Redis a block at a time), and in one commit writes the outcomes
of the calls that have answered and marks these rows as attempting; then it starts their calls, each at its slot.
No database transaction is open during an SES call, and at no moment are more than ``SEND_CONCURRENCY`` rows marked
and not recorded, all of them calls begun or about to begin that instant: that is what a worker that dies leaves in
doubt (``unknown``), never a row sent twice.

What a worker knows, it does not lose. A dropped connection to PostgreSQL or Redis, or a restart of either, makes
the step that met it reconnect and run again, for up to ``SEND_RECOVER_SECONDS``, holding the outcomes SES gave
meanwhile; only after that does the worker give up, and then it still writes what it can and gives back the rows
it did not attempt. A warm shutdown (``worker_stop``) ends the loop after the open calls, recorded. A worker that
finds only rows waiting out a retry backoff waits for the first of them (or, for a long wait, queues a wake-up
for then) rather than leaving them to the minute sweep.
"""

import contextlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from campaigns.authoring.personalise import campaign_message_build
from campaigns.authoring.rendering import RenderedCampaign, campaign_topics, rendered_from_sources
from campaigns.models import Delivery, DeliveryState, Send, SendState
from campaigns.sending import worker_stop
from campaigns.sending.services import (
    QUOTA_PAUSE_REASON,
    Outcome,
    deliveries_lease_renew,
    deliveries_record,
    deliveries_record_and_mark,
    delivery_claim_batch,
    delivery_next_retry_seconds,
    delivery_release,
    send_finish_if_done,
    send_pause,
    send_wake_later,
)
from mailer.ses import (
    SesOutcomeUnknown,
    SesPermanentError,
    SesTransientError,
    ses_max_send_rate,
    ses_send_email_client,
    ses_send_raw,
)
from mailer.throttle import SendRateLimiter
from subscribers.models import SubscriptionStatus, Suppression, SuppressionScope
from subscribers.selectors import active_topic_ids_by_subscriber

logger = logging.getLogger(__name__)
# Rows marked in one commit have their slots within this span: at low rates one row at a time, marked just before
# its call, at high rates up to the calls that are free.
GROUP_SECONDS = 0.005
# Slots are reserved from the shared limiter a block at a time (one Redis call), covering at most this much of the
# fleet's schedule so that at low rates one worker does not hold the next second; a slot left unused for longer
# than this is given up rather than used late, in a bunch with others.
SLOT_BLOCK_SECONDS = 0.1
SLOT_BLOCK_MAX = 16
# Errors of a connection, not of what was asked: the same step may simply run again once reconnected.
CONNECTION_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    TimeoutError,  # the rate limiter found no slot in time (a crowd of workers, or Redis's schedule reset)
)


class WorkerGaveUp(Exception):
    """PostgreSQL or Redis stayed unreachable for longer than SEND_RECOVER_SECONDS."""


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


def _rows_load(ids: list[int]) -> list[Delivery]:
    rows = list(Delivery.objects.filter(pk__in=ids).select_related("subscriber", "subscription").order_by("pk"))
    for row in rows:  # one person, loaded once (joining the subscriber twice cost a model per row)
        if row.subscription and row.subscription.subscriber_id == row.subscriber_id:
            row.subscription.subscriber = row.subscriber
    return rows


@dataclass(frozen=True)
class _Message:
    row: Delivery
    raw: bytes


def _recipient_topics(rendered: RenderedCampaign, rows: list[Delivery]) -> dict[int, set[int]]:
    """{subscriber id: the campaign's topics they are subscribed to}, for the footer of each message: one query per
    batch, none when the campaign has a single topic (every recipient is subscribed to it)."""
    if len(rendered.topics) < 2:
        return {}
    return active_topic_ids_by_subscriber(
        subscriber_ids=[row.subscriber_id for row in rows], topic_ids=[topic_id for topic_id, _ in rendered.topics]
    )


def _build(rendered: RenderedCampaign, row: Delivery, topics: dict[int, set[int]]) -> bytes:
    return campaign_message_build(
        rendered=rendered,
        to=row.subscriber.email,
        subscription=row.subscription,
        topic_ids=topics.get(row.subscriber_id),
    )


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


class _Slots:
    """The moments this worker may start its next calls, reserved from the shared rate limiter a block at a time.

    A block is consecutive slots of the fleet's schedule; ``take`` hands them out in order, reserving the next block
    (and waiting for its first slot) when the ones in hand run out."""

    def __init__(self, limiter: SendRateLimiter):
        self.limiter = limiter
        self.block = max(1, min(SLOT_BLOCK_MAX, int(limiter.rate_per_second * SLOT_BLOCK_SECONDS)))
        self.ahead: deque[float] = deque()  # moments on this process's monotonic clock

    def take(self, count: int) -> list[float]:
        stale = time.monotonic() - SLOT_BLOCK_SECONDS
        while self.ahead and self.ahead[0] < stale:
            self.ahead.popleft()
        while len(self.ahead) < count:
            reservation = self.limiter.acquire(count=max(self.block, count - len(self.ahead)))
            first = time.monotonic()  # acquire returns at the block's first slot
            self.ahead.extend(first + n * reservation.interval for n in range(reservation.count))
        return [self.ahead.popleft() for _ in range(count)]


# Calls open at once help only while the process waits for SES. When it is busy most of the time instead (a nearby
# endpoint, a loaded machine), threads would only contend for the interpreter: calls are then made one after another
# in the worker's own thread, a group of rows at a time.
SEQUENTIAL_WHEN_BUSY = 0.75
BUSY_SAMPLE_SECONDS = 0.2


class _Calls:
    """The SES calls of one worker: up to ``concurrency`` open at once, each started at its reserved slot, on
    threads that share one ``SendEmail`` client with a kept-alive connection each (a call to SES mostly waits, so one
    process with several calls open reaches a rate that would otherwise need several processes).

    It keeps a running average of how busy the process is (CPU time over wall time) and, while that is above
    ``SEQUENTIAL_WHEN_BUSY`` or the concurrency is one, makes the calls in the worker's own thread instead.
    """

    def __init__(self, *, send_id: int, sender: str, concurrency: int):
        self.send_id, self.sender, self.concurrency = send_id, sender, concurrency
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="ses") if concurrency > 1 else None
        self.open: set[Future] = set()
        self.answered: list[Outcome] = []  # calls made in this thread, not yet collected
        self.busy: float | None = None
        self._sampled = (time.monotonic(), time.process_time())

    def _at_slot(self, slot: float, message: _Message) -> Outcome:
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return _send_one(send_id=self.send_id, sender=self.sender, message=message)

    def sequential(self) -> bool:
        return self.pool is None or (self.busy is not None and self.busy > SEQUENTIAL_WHEN_BUSY)

    def _sample(self) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        elapsed = wall - self._sampled[0]
        if elapsed >= BUSY_SAMPLE_SECONDS:
            busy = (cpu - self._sampled[1]) / elapsed
            self.busy = busy if self.busy is None else 0.7 * self.busy + 0.3 * busy
            self._sampled = (wall, cpu)

    def free(self) -> int:
        return self.concurrency - len(self.open)

    def start(self, messages: list[_Message], *, slots: list[float]) -> None:
        """Start each call at its slot (a moment on this process's monotonic clock)."""
        inline = self.sequential()
        for slot, message in zip(slots, messages, strict=True):
            if inline:
                self.answered.append(self._at_slot(slot, message))
            else:
                self.open.add(self.pool.submit(self._at_slot, slot, message))

    def collect(self, *, wait_for_one: bool = False) -> list[Outcome]:
        """The outcomes of the calls that have answered (after waiting for at least one, if asked and any is open)."""
        if wait_for_one and self.open:
            wait(self.open, return_when=FIRST_COMPLETED)
        self._sample()
        done = {call for call in self.open if call.done()}
        self.open -= done
        outcomes, self.answered = [*self.answered, *(call.result() for call in done)], []
        return outcomes

    def drain(self) -> list[Outcome]:
        """Wait for every open call and return all outcomes not yet collected."""
        wait(self.open)
        return self.collect()

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


class _Patience:
    """Runs a database or Redis step again after a connection error, until ``SEND_RECOVER_SECONDS`` have passed
    since the first failure of a run of failures. A step that succeeds resets the clock."""

    def __init__(self, *, send_id: int):
        self.send_id = send_id
        self.failing_since: float | None = None

    def run(self, what: str, step, *args, **kwargs):
        delay = 0.05
        while True:
            try:
                result = step(*args, **kwargs)
            except CONNECTION_ERRORS as err:
                now = time.monotonic()
                self.failing_since = self.failing_since or now
                if now - self.failing_since >= settings.SEND_RECOVER_SECONDS:
                    raise WorkerGaveUp(f"{what}: {err}") from err
                logger.warning("Send %s: %s failed (%s); trying again.", self.send_id, what, repr(err))
                if isinstance(err, DatabaseError):
                    self._reconnect()
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            else:
                self.failing_since = None
                return result

    @staticmethod
    def _reconnect() -> None:
        # Django does not reopen a connection the server dropped: closing it makes the next query open a new one.
        try:
            connection.close()
        except DatabaseError:
            connection.connection = None


class _SendWorker:
    """One worker's run on one send. ``unwritten`` holds outcomes SES gave that the ledger does not have yet;
    every way out of ``run`` tries to write them."""

    def __init__(self, *, send: Send, worker_id: str):
        self.send, self.send_id, self.worker_id = send, send.pk, worker_id
        self.rendered = rendered_from_sources(
            page_id=send.page_id,
            revision_id=send.revision_id,
            subject=send.subject_source,
            html=send.html_source,
            text=send.text_source,
            sender=send.sender,
            reply_to=send.reply_to,
            topics=campaign_topics(page=send.revision.as_object()),  # the topics of the revision sent
        )
        ses_send_email_client()  # made here, once: creating boto3 clients from several threads at once is not safe
        limiter = SendRateLimiter(account=settings.SES_REGION, rate_per_second=ses_max_send_rate())
        self.slots = _Slots(limiter)
        concurrency = max(1, settings.SEND_CONCURRENCY)
        self.group_size = max(1, min(concurrency, int(limiter.rate_per_second * GROUP_SECONDS)))
        self.calls = _Calls(send_id=send.pk, sender=self.rendered.sender, concurrency=concurrency)
        self.patience = _Patience(send_id=send.pk)
        self.unwritten: list[Outcome] = []
        self.held: list[int] = []  # the batch claimed, until given back
        self.accepted = 0
        self.gave_up = False

    def run(self) -> int:
        try:
            with worker_stop.sending():
                self._loop()
        except WorkerGaveUp as err:
            self.gave_up = True
            logger.error("Send %s: worker %s gave up: %s", self.send_id, self.worker_id, err)
        finally:
            self._collect(self.calls.drain())  # a way out with calls open (a give-up) still records their answers
            self.calls.close()
            self._settle()
        return self.accepted

    def _collect(self, outcomes: list[Outcome]) -> None:
        self.unwritten += outcomes
        self.accepted += sum(o.state == DeliveryState.SENT for o in outcomes)

    def _is_sending(self) -> bool:
        return self.patience.run(
            "reading the send's state", lambda: Send.objects.filter(pk=self.send_id, state=SendState.SENDING).exists()
        )

    def _loop(self) -> None:
        while not worker_stop.stop_requested() and self._is_sending():
            ids = self.patience.run(
                "claiming rows",
                delivery_claim_batch,
                send_id=self.send_id,
                worker_id=self.worker_id,
                size=settings.SEND_BATCH_SIZE,
            )
            if not ids:
                if not self._wait_for_retries():
                    return
                continue
            self.held = ids
            if self._batch(ids):
                return
            self._write_and_release()

    def _wait_for_retries(self) -> bool:
        """Nothing claimable now: wait for the first row in backoff, or queue a wake-up for it. True to go on."""
        wait = self.patience.run("reading retry times", delivery_next_retry_seconds, send_id=self.send_id)
        if wait is None:
            return False  # nothing queued: the send is done, or other workers hold the rest
        if wait > settings.SEND_RETRY_WAIT_SECONDS:
            send_wake_later(send_id=self.send_id, seconds=wait)
            return False
        return not worker_stop.stop_wait(wait)

    def _batch(self, ids: list[int]) -> bool:
        """Send one claimed batch. True when the worker must stop (paused, cancelled, quota, shutdown); the calls it
        started are answered and collected either way."""
        renew_at = time.monotonic() + settings.SEND_LEASE_SECONDS / 2
        rows = self.patience.run("loading claimed rows", _rows_load, ids)
        ineligible = self.patience.run("re-checking recipients", _ineligible, rows)
        self.unwritten += [Outcome(pk, DeliveryState.SKIPPED, reason=reason) for pk, reason in ineligible.items()]
        waiting = deque(row for row in rows if row.pk not in ineligible)
        topics = self.patience.run("reading recipients' topics", _recipient_topics, self.rendered, list(waiting))
        stop = False
        while waiting and not stop:
            # A whole group's worth of calls free first: at high rates that is what keeps commits few.
            need = min(self.group_size, len(waiting))
            self._collect(self.calls.collect())
            while self.calls.free() < need:
                self._collect(self.calls.collect(wait_for_one=True))
            if worker_stop.stop_requested() or any(_is_daily_quota(o) for o in self.unwritten):
                stop = True
                break
            group = [waiting.popleft() for _ in range(min(self.calls.free(), self.group_size, len(waiting)))]
            messages = [_Message(row, _build(self.rendered, row, topics)) for row in group]
            slots = self.patience.run("reserving sending slots", self.slots.take, len(messages))
            if time.monotonic() > renew_at:
                self.patience.run(
                    "renewing the lease", deliveries_lease_renew, send_id=self.send_id, worker_id=self.worker_id
                )
                renew_at = time.monotonic() + settings.SEND_LEASE_SECONDS / 2
            marked = self.patience.run("recording outcomes", self._record_and_mark, [row.pk for row in group])
            if not marked and not self._is_sending():
                stop = True  # paused or cancelled: no call starts after the commit that saw it
                break
            if len(marked) < len(group):  # rows taken back by the sweeper: another worker may send them
                kept = set(marked)
                slots = [slot for slot, m in zip(slots, messages, strict=True) if m.row.pk in kept]
                messages = [m for m in messages if m.row.pk in kept]
            self.calls.start(messages, slots=slots)
        self._collect(self.calls.drain())
        if any(_is_daily_quota(o) for o in self.unwritten):
            self._write_and_release()
            self.patience.run("pausing the send", send_pause, send=self.send, reason=QUOTA_PAUSE_REASON)
            return True
        return stop

    def _record_and_mark(self, ids: list[int]) -> list[int]:
        """One commit: the outcomes held, and the next calls' rows marked as attempting. Run again whole after a
        connection error (both writes are idempotent), so nothing held is dropped."""
        marked = deliveries_record_and_mark(
            outcomes=self.unwritten, send_id=self.send_id, worker_id=self.worker_id, ids=ids
        )
        self.unwritten = []
        return marked

    def _write_and_release(self) -> None:
        if self.unwritten:
            self.patience.run("recording outcomes", deliveries_record, outcomes=self.unwritten)
            self.unwritten = []
        if self.held:
            self.patience.run("giving back rows", delivery_release, ids=self.held, worker_id=self.worker_id)
            self.held = []

    def _settle(self) -> None:
        """On every way out: write what SES said, give back what was not attempted, and if rows are left for
        others (a shutdown, a give-up), wake another worker for them."""
        leaving_work = worker_stop.stop_requested() or self.gave_up
        try:
            self._write_and_release()
        except WorkerGaveUp as err:
            logger.error(
                "Send %s: %s outcomes could not be written (%s); their rows become unknown when the lease expires "
                "unless an SES event settles them.",
                self.send_id,
                len(self.unwritten),
                err,
            )
            return
        if leaving_work:
            try:
                send_wake_later(send_id=self.send_id, seconds=0)
            except CONNECTION_ERRORS as err:
                logger.warning("Send %s: no wake-up queued (%s); the sweeper wakes a worker.", self.send_id, err)


def send_work(*, send_id: int, worker_id: str | None = None) -> int:
    """Work on one send until nothing is left to claim, the send stops or the worker is asked to stop.
    Returns the messages SES accepted."""
    send = Send.objects.get(pk=send_id)
    if send.state != SendState.SENDING or worker_stop.stop_requested():
        return 0
    worker = _SendWorker(send=send, worker_id=worker_id or worker_id_new())
    accepted = worker.run()
    with contextlib.suppress(WorkerGaveUp):  # if so, the sweeper finishes it
        worker.patience.run("finishing the send", send_finish_if_done, send_id=send_id)
    return accepted
