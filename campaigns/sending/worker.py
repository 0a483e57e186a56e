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
import functools
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
from campaigns.sending.claim_position import ClaimPosition
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


def _build(rendered: RenderedCampaign, row: Delivery, topic_ids: set[int] | None) -> bytes:
    return campaign_message_build(
        rendered=rendered, to=row.subscriber.email, subscription=row.subscription, topic_ids=topic_ids
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


# How far ahead of now a worker may hold slots of the shared rate, each given to a call that waits for it on its own
# thread. Calls waiting for their slots keep the fleet's schedule full while the worker's own thread claims the next
# batch or commits; the lead is short so that, at low rates, rows are not marked long before their calls.
SLOT_LEAD_SECONDS = 0.02


class SendSlots:
    """The moments this worker may start its next calls, taken from the shared rate limiter a group at a time (one
    Redis call), after the group's rows are marked. Each slot goes to a call at once: none is held unused."""

    def __init__(self, limiter: SendRateLimiter):
        self.limiter = limiter
        self.last = 0.0  # the latest slot taken, on this process's monotonic clock

    def wait_for_lead(self) -> None:
        """Sleep until the latest slot taken is less than ``SLOT_LEAD_SECONDS`` ahead."""
        delay = self.last - time.monotonic() - SLOT_LEAD_SECONDS
        if delay > 0:
            time.sleep(delay)

    def take(self, count: int) -> list[float]:
        """Reserve ``count`` consecutive slots; their moments on this process's clock."""
        reservation = self.limiter.acquire(count=count, sleep=False)
        now = time.monotonic()
        slots = [now + offset for offset in reservation.offsets()]
        self.last = slots[-1]
        return slots


# Calls open at once help only while the process waits for SES. When it is busy most of the time instead (a nearby
# endpoint, a loaded machine), threads would only contend for the interpreter: calls are then made one after another
# in the worker's own thread, a group of rows at a time.
SEQUENTIAL_WHEN_BUSY = 0.75
BUSY_SAMPLE_SECONDS = 0.2


class SesCalls:
    """The SES calls of one worker: up to ``concurrency`` open at once, each started at its reserved slot, on
    threads that share one ``SendEmail`` client with a kept-alive connection each (a call to SES mostly waits, so one
    process with several calls open reaches a rate that would otherwise need several processes). ``call`` makes one
    call (``call(message=...)``) and returns its outcome; campaigns and automations each give their own.

    It keeps a running average of how busy the process is (CPU time over wall time) and, while that is above
    ``SEQUENTIAL_WHEN_BUSY`` or the concurrency is one, makes the calls in the worker's own thread instead.
    """

    def __init__(self, *, call, concurrency: int):
        self.call, self.concurrency = call, concurrency
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="ses") if concurrency > 1 else None
        self.open: set[Future] = set()
        self.answered: list[Outcome] = []  # calls made in this thread, not yet collected
        self.busy: float | None = None
        self._sampled = (time.monotonic(), time.process_time())

    def _at_slot(self, slot: float, message: _Message) -> Outcome:
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return self.call(message=message)

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
        self.slots = SendSlots(limiter)
        concurrency = max(1, settings.SEND_CONCURRENCY)
        self.group_size = max(1, min(concurrency, int(limiter.rate_per_second * GROUP_SECONDS)))
        self.calls = SesCalls(
            call=functools.partial(_send_one, send_id=send.pk, sender=self.rendered.sender), concurrency=concurrency
        )
        self.patience = _Patience(send_id=send.pk)
        self.position = ClaimPosition()
        self.unwritten: list[Outcome] = []
        self.waiting: deque[Delivery] = deque()  # rows claimed, re-checked and not yet marked, in id order
        self.topics: dict[int, set[int]] = {}  # for the footers of the rows claimed (see _recipient_topics)
        self.renew_at = 0.0
        # The next batch is claimed while this many rows are still waiting: their calls cover the claim's time.
        self.claim_below = 2 * self.group_size
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
        """Claim rows before the ones in hand run out, so the calls of one batch overlap the next one's claim and
        no slot of the shared rate passes while this worker waits on the database; stop when told to, when the
        send stops, or when nothing is left to claim."""
        while not worker_stop.stop_requested():
            if len(self.waiting) < self.claim_below:
                if not self._is_sending():
                    return
                if not self._claim() and not self.waiting:
                    self._collect(self.calls.drain())
                    self._write_and_release()
                    if not self._wait_for_retries():
                        return
                    continue
            if self._send_group():
                break
        self._collect(self.calls.drain())
        if any(_is_daily_quota(o) for o in self.unwritten):
            self._write_and_release()
            self.patience.run("pausing the send", send_pause, send=self.send, reason=QUOTA_PAUSE_REASON)

    def _wait_for_retries(self) -> bool:
        """Nothing claimable now: wait for the first row in backoff, or queue a wake-up for it. True to go on."""
        wait = self.patience.run("reading retry times", delivery_next_retry_seconds, send_id=self.send_id)
        if wait is None:
            return False  # nothing queued: the send is done, or other workers hold the rest
        if wait > settings.SEND_RETRY_WAIT_SECONDS:
            send_wake_later(send_id=self.send_id, seconds=wait)
            return False
        return not worker_stop.stop_wait(wait)

    def _claim(self) -> bool:
        """Claim the next batch, re-check its recipients and add the eligible rows to those waiting. False when
        none was left to claim."""
        ids = self.position.claim(
            lambda after_id: self.patience.run(
                "claiming rows",
                delivery_claim_batch,
                send_id=self.send_id,
                worker_id=self.worker_id,
                size=settings.SEND_BATCH_SIZE,
                after_id=after_id,
            )
        )
        if not ids:
            return False
        if not self.waiting:
            self.renew_at = time.monotonic() + settings.SEND_LEASE_SECONDS / 2
        rows = self.patience.run("loading claimed rows", _rows_load, ids)
        ineligible = self.patience.run("re-checking recipients", _ineligible, rows)
        self.unwritten += [Outcome(pk, DeliveryState.SKIPPED, reason=reason) for pk, reason in ineligible.items()]
        eligible = [row for row in rows if row.pk not in ineligible]
        self.topics.update(self.patience.run("reading recipients' topics", _recipient_topics, self.rendered, eligible))
        self.waiting.extend(eligible)
        return True

    def _send_group(self) -> bool:
        """Start the calls of the next few waiting rows: build them, mark them in one commit with the outcomes
        held, then take their slots and start each call at its slot. True when the worker must stop (paused,
        cancelled, quota, shutdown)."""
        self.slots.wait_for_lead()
        # A whole group's worth of calls free first: at high rates that is what keeps commits few.
        need = min(self.group_size, len(self.waiting))
        self._collect(self.calls.collect())
        while self.calls.free() < need:
            self._collect(self.calls.collect(wait_for_one=True))
        if worker_stop.stop_requested() or any(_is_daily_quota(o) for o in self.unwritten):
            return True
        group = [self.waiting.popleft() for _ in range(min(self.calls.free(), self.group_size, len(self.waiting)))]
        topics = [self.topics.pop(row.subscriber_id, None) for row in group]
        messages = [_Message(row, _build(self.rendered, row, ids)) for row, ids in zip(group, topics, strict=True)]
        if time.monotonic() > self.renew_at:
            self.patience.run(
                "renewing the lease", deliveries_lease_renew, send_id=self.send_id, worker_id=self.worker_id
            )
            self.renew_at = time.monotonic() + settings.SEND_LEASE_SECONDS / 2
        marked = self.patience.run("recording outcomes", self._record_and_mark, [row.pk for row in group])
        if not marked and not self._is_sending():
            # Paused or cancelled: no call starts after the commit that saw it, and the group's rows, claimed and
            # never attempted, go back with the others waiting (``_settle``), so that a resume finds them queued.
            self.waiting.extendleft(reversed(group))
            return True
        if len(marked) < len(group):  # rows taken back by the sweeper: another worker may send them
            kept = set(marked)
            messages = [m for m in messages if m.row.pk in kept]
        # Slots are taken after the commit, so that its time is not taken out of them: a call never starts later
        # than its slot by more than the process's own scheduling, and no slot is reserved for a row not sent.
        slots = self.patience.run("reserving sending slots", self.slots.take, len(messages))
        self.calls.start(messages, slots=slots)
        return False

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
        if self.waiting:
            held = [row.pk for row in self.waiting]
            self.patience.run("giving back rows", delivery_release, ids=held, worker_id=self.worker_id)
            self.waiting.clear()

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
