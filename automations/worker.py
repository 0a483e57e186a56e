"""The worker of automations: claim due runs, take their steps, send their emails exactly once, within consent.

A run is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` in due order, under a lease: while a worker holds it,
its ``due_at`` is the end of the lease, so beat's "anything due?" does not see it, and if the worker dies the run
falls due again when the lease ends. Each run then walks its steps from ``position``: a wait sets when it is due
next, a condition keeps it only if the segment selects the person, a stop (or the last step) finishes it.

An email step first checks consent again: an active subscription to the automation's topic, no marketing or
all-scope suppression of the address (the rules of a campaign's audience). Then the ledger: one
``AutomationDelivery`` per run and step, made once (the unique constraint). A row already sent, failed, skipped or
in doubt is never sent again; a row found claimed with ``attempted_at`` set was being sent by a worker that died,
becomes ``unknown``, and is never sent again either (SES has no idempotency key; its Send or Delivery event, carrying
the row's tag, settles it later). Otherwise the row is marked attempting in one commit with the others of its
group, and only then is SES called, outside any transaction, at a slot of the rate limiter that campaigns use.
SES's answers are written with the next group's mark (one commit), the runs' next steps at the end of the batch. So no
person ever gets a step twice, whatever crashes; what a crash can leave in doubt is at most SEND_CONCURRENCY rows,
the calls open at that moment and answers not yet written.
"""

import dataclasses
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from automations.models import (
    Automation,
    AutomationDelivery,
    AutomationRun,
    AutomationState,
    AutomationStep,
    AutomationTrigger,
    LeftReason,
    RunState,
    StepKind,
)
from automations.schedule import anniversary_days, next_weekday_hour, shop_today
from campaigns.authoring.personalise import campaign_message_build
from campaigns.authoring.rendering import RenderedCampaign, campaign_render
from campaigns.models import DeliveryState
from campaigns.segments.compiler import segment_q
from campaigns.sending.audience import MARKETING_SCOPES
from campaigns.sending.rowsets import rows_table
from campaigns.sending.worker import GROUP_SECONDS, SendSlots, SesCalls, worker_id_new
from mailer.ses import (
    SesOutcomeUnknown,
    SesPermanentError,
    SesTransientError,
    ses_max_send_rate,
    ses_send_email_client,
    ses_send_raw,
)
from mailer.throttle import SendRateLimiter
from subscribers.models import (
    AttributeValue,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)

logger = logging.getLogger(__name__)

FINAL_STATES = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SKIPPED, DeliveryState.UNKNOWN)
# How many steps one run may take in one go (waits end a go; a loop of conditions and stops cannot be endless).
STEPS_PER_GO = 50


def runs_due_exist(*, now: datetime | None = None) -> bool:
    """Beat's question, one query on the partial index of active runs by ``due_at``: is any run of an active
    automation due?"""
    return AutomationRun.objects.filter(
        state=RunState.ACTIVE, due_at__lte=now or timezone.now(), automation__state=AutomationState.ACTIVE
    ).exists()


def runs_claim(
    *, worker_id: str, size: int, now: datetime | None = None, after: tuple[datetime, int] | None = None
) -> list[tuple[int, datetime]]:
    """Claim up to ``size`` due runs of active automations, in due order, skipping those other workers lock, under a
    lease: ``claimed_by`` this worker, and ``due_at`` moved to the lease's end (AUTOMATION_LEASE_SECONDS). Returns
    (id, due_at before the claim) of each, in order.

    ``after`` is the (due_at, id) of the last run this worker claimed: the scan of the partial index starts there
    (keyset order), not at the index's beginning, where the entries of every run already claimed or finished lie dead
    until PostgreSQL's vacuum removes them; without it a crowd of 100,000 due at once made each claim slower than the
    one before."""
    now = now or timezone.now()
    lease_end = now + timedelta(seconds=settings.AUTOMATION_LEASE_SECONDS)
    due = AutomationRun.objects.filter(
        state=RunState.ACTIVE, due_at__lte=now, automation__state=AutomationState.ACTIVE
    )
    if after is not None:
        table = connection.ops.quote_name(AutomationRun._meta.db_table)
        due = due.extra(  # noqa: S610 - row comparison (keyset), which the ORM cannot write; values are parameters
            where=[f"({table}.due_at, {table}.id) > (%s, %s)"],
            params=[connection.ops.adapt_datetimefield_value(after[0]), after[1]],
        )
    with transaction.atomic():
        claimed = list(
            due.order_by("due_at", "id").select_for_update(skip_locked=True, of=("self",)).values_list("id", "due_at")[
                :size
            ]
        )
        if claimed:
            AutomationRun.objects.filter(pk__in=[pk for pk, _ in claimed]).update(
                claimed_by=worker_id, lease_expires_at=lease_end, due_at=lease_end
            )
    return claimed


@dataclass(slots=True)
class _LedgerRow:
    """What the worker needs of a run's ledger row for one email step (made plainly: a crowd's rows are many)."""

    pk: int
    state: str
    attempted_at: datetime | None = None
    reason: str = ""


@dataclass
class _Go:
    """One claimed run on its way through this batch, and what is to be written for it."""

    run: AutomationRun
    position: int
    state: str = RunState.ACTIVE
    due_at: datetime | None = None
    left_reason: str = ""
    email_step: AutomationStep | None = None  # the email step it stopped at, to send in this batch
    delivery: _LedgerRow | None = None
    subscription: Subscription | None = None
    done: bool = False  # nothing more to take in this batch

    def leave(self, reason: str) -> None:
        self.state, self.left_reason, self.done = RunState.LEFT, reason, True

    def finish(self) -> None:
        self.state, self.done = RunState.FINISHED, True


@dataclass(frozen=True)
class _Message:
    delivery_id: int
    to: str
    raw: bytes
    sender: str
    automation_id: int


@dataclass
class _Outcome:
    delivery_id: int
    state: str
    reason: str = ""
    ses_message_id: str = ""
    written: bool = False


RECORDED = "(recorded)"  # the ses_message_id of an outcome the ledger already had when the batch began


@dataclass
class _Batch:
    goes: list[_Go]
    steps: dict[int, dict[int, AutomationStep]]
    automations: dict[int, Automation]
    outcomes: dict[int, _Outcome] = field(default_factory=dict)


def _send_one(*, message: _Message) -> _Outcome:
    try:
        message_id = ses_send_raw(
            raw_message=message.raw,
            to=message.to,
            sender=message.sender,
            tags={"automation": str(message.automation_id), "automation_delivery": str(message.delivery_id)},
        )
    except SesOutcomeUnknown as err:
        return _Outcome(message.delivery_id, DeliveryState.UNKNOWN, reason=str(err))
    except SesTransientError as err:
        return _Outcome(message.delivery_id, DeliveryState.QUEUED, reason=str(err))
    except SesPermanentError as err:
        return _Outcome(message.delivery_id, DeliveryState.FAILED, reason=str(err))
    return _Outcome(message.delivery_id, DeliveryState.SENT, ses_message_id=message_id)


class _Renders:
    """Each email rendered once per worker, at its live revision, with the footer naming the automation's topic."""

    def __init__(self):
        self.cache: dict[tuple[int, int], RenderedCampaign] = {}

    def get(self, step: AutomationStep, automation: Automation) -> tuple[RenderedCampaign, int | None]:
        page = step.email
        revision_id = page.live_revision_id
        key = (revision_id or -page.pk, automation.topic_id)
        if key not in self.cache:
            published = page.live_revision.as_object() if page.live_revision_id else page
            rendered = campaign_render(page=published)
            self.cache[key] = dataclasses.replace(
                rendered, revision_id=revision_id, topics=((automation.topic_id, automation.topic.name),)
            )
        return self.cache[key], revision_id


class AutomationWorker:
    """One worker's pass over the due runs: batch after batch until none is due, or ``max_seconds`` have passed."""

    def __init__(self, *, worker_id: str | None = None):
        self.worker_id = worker_id or worker_id_new()
        self.renders = _Renders()
        ses_send_email_client()  # made here, once: creating boto3 clients from several threads at once is not safe
        limiter = SendRateLimiter(account=settings.SES_REGION, rate_per_second=ses_max_send_rate())
        self.slots = SendSlots(limiter)  # the same limiter key as campaigns: one SES rate for both
        self.concurrency = max(1, settings.SEND_CONCURRENCY)
        self.group_size = max(1, min(self.concurrency, int(limiter.rate_per_second * GROUP_SECONDS) or 1))
        self.calls = SesCalls(call=_send_one, concurrency=self.concurrency)
        self.sent = 0

    def run(self, *, max_seconds: float | None = None) -> int:
        """Work until nothing is due; returns the messages SES accepted."""
        deadline = time.monotonic() + max_seconds if max_seconds else None
        try:
            after = None
            while deadline is None or time.monotonic() < deadline:
                claimed = runs_claim(worker_id=self.worker_id, size=settings.AUTOMATION_BATCH_SIZE, after=after)
                if not claimed:
                    if after is None:
                        break
                    after = None  # once more from the start: runs that fell due behind the keyset meanwhile
                    continue
                after = claimed[-1][1], claimed[-1][0]
                self.batch([pk for pk, _ in claimed])
        finally:
            self.calls.close()
        return self.sent

    # -- one batch --------------------------------------------------------------------------------------------------

    def batch(self, ids: list[int]) -> None:
        runs = list(AutomationRun.objects.filter(pk__in=ids, claimed_by=self.worker_id).select_related("subscriber"))
        automation_ids = {run.automation_id for run in runs}
        automations = Automation.objects.select_related("topic").in_bulk(automation_ids)
        steps: dict[int, dict[int, AutomationStep]] = {pk: {} for pk in automation_ids}
        for step in AutomationStep.objects.filter(automation_id__in=automation_ids).select_related("email", "segment"):
            steps[step.automation_id][step.position] = step
        batch = _Batch(goes=[_Go(run=run, position=run.position) for run in runs], steps=steps, automations=automations)
        now = timezone.now()
        self._walk(batch, now=now)
        self._consent_check(batch)
        self._date_check(batch)
        self._ledger(batch)
        self._send(batch)
        self._walk(batch, now=timezone.now())  # on from the emails just sent, up to the next wait or email
        self._record(batch)

    def _walk(self, batch: _Batch, *, now: datetime) -> None:
        """Take each run's steps up to an email step (to send in this batch), a wait, or the end."""
        for go in batch.goes:
            if go.done or go.email_step is not None:
                continue
            steps = batch.steps[go.run.automation_id]
            for _ in range(STEPS_PER_GO):
                step = steps.get(go.position)
                if step is None or step.kind == StepKind.STOP:
                    go.finish()
                    break
                if step.kind == StepKind.WAIT:
                    go.position += 1
                    go.due_at = (
                        now + timedelta(seconds=step.wait_seconds)
                        if step.wait_seconds is not None
                        else next_weekday_hour(after=now, weekday=step.wait_weekday, hour=step.wait_hour)
                    )
                    go.done = True
                    break
                if step.kind == StepKind.CONDITION:
                    matches = (
                        Subscriber.objects.filter(pk=go.run.subscriber_id)
                        .filter(segment_q(step.segment.definition, now=now))
                        .exists()
                    )
                    if not matches:
                        go.leave(LeftReason.SEGMENT)
                        break
                    go.position += 1
                    continue
                if go.delivery is not None:  # a second email straight after one sent now: in the next go
                    go.due_at = now
                    go.done = True
                    break
                go.email_step = step
                break
            else:
                go.due_at = now
                go.done = True

    def _consent_check(self, batch: _Batch) -> None:
        """For the runs at an email step: an active subscription to the automation's topic, and no marketing or
        all-scope suppression of the address. Those without leave, with the reason. One query each, per batch."""
        at_email = [go for go in batch.goes if go.email_step is not None]
        if not at_email:
            return
        subscriptions = {
            (s.subscriber_id, s.topic_id): s
            for s in Subscription.objects.filter(
                subscriber_id__in={go.run.subscriber_id for go in at_email},
                topic_id__in={batch.automations[go.run.automation_id].topic_id for go in at_email},
            )
        }
        suppressed = dict(
            Suppression.objects.filter(
                address_hmac__in={go.run.subscriber.address_hmac for go in at_email}, scope__in=MARKETING_SCOPES
            ).values_list("address_hmac", "reason")
        )
        for go in at_email:
            subscriber = go.run.subscriber
            subscription = subscriptions.get((subscriber.pk, batch.automations[go.run.automation_id].topic_id))
            reason = suppressed.get(subscriber.address_hmac)
            if reason == SuppressionReason.ERASED:
                go.leave(LeftReason.ERASED)
            elif subscription is None or subscription.status != SubscriptionStatus.ACTIVE:
                go.leave(LeftReason.UNSUBSCRIBED)
            elif reason is not None:
                go.leave(LeftReason.SUPPRESSED)
            else:
                subscription.subscriber = subscriber
                go.subscription = subscription
                continue
            go.email_step = None

    def _date_check(self, batch: _Batch) -> None:
        """For the runs of date-triggered automations at an email step: the person still holds a date of the
        trigger attribute whose day started the run (the day of its start in the shop's zone, less the offset).
        One removed (a person's right to have it corrected or deleted) or changed to another day leaves the run,
        "date changed", before any email of it: a birthday email for a birthday taken back is not sent."""
        dated = [
            go for go in batch.goes
            if go.email_step is not None
            and batch.automations[go.run.automation_id].trigger == AutomationTrigger.DATE_ATTRIBUTE
        ]
        if not dated:
            return
        held = {
            (subscriber_id, attribute_id): (when.month, when.day)
            for subscriber_id, attribute_id, when in AttributeValue.objects.filter(
                subscriber_id__in={go.run.subscriber_id for go in dated},
                attribute_id__in={batch.automations[go.run.automation_id].trigger_attribute_id for go in dated},
                date__isnull=False,
            ).values_list("subscriber_id", "attribute_id", "date")
        }
        for go in dated:
            automation = batch.automations[go.run.automation_id]
            started, _ = shop_today(go.run.started_at)
            day = started - timedelta(days=automation.trigger_offset_days)
            if held.get((go.run.subscriber_id, automation.trigger_attribute_id)) not in anniversary_days(day):
                go.leave(LeftReason.DATE_CHANGED)
                go.email_step = None

    def _ledger(self, batch: _Batch) -> None:
        """The ledger row of each run's email step, made once; rows already settled are never sent again."""
        at_email = [go for go in batch.goes if go.email_step is not None]
        if not at_email:
            return
        revisions = {}
        for go in at_email:
            _, revisions[go.email_step.pk] = self.renders.get(go.email_step, batch.automations[go.run.automation_id])
        rows = self._ledger_rows(at_email, revisions)
        in_doubt = []
        for go in at_email:
            row = rows[(go.run.pk, go.email_step.pk)]
            go.delivery = row
            if row.state == DeliveryState.CLAIMED and row.attempted_at is not None:
                in_doubt.append(row.pk)  # its worker died during the call: never sent again
                batch.outcomes[row.pk] = _Outcome(row.pk, DeliveryState.UNKNOWN, reason="worker lost during the call")
            elif row.state in FINAL_STATES:
                batch.outcomes[row.pk] = _Outcome(row.pk, row.state, reason=row.reason, ses_message_id=RECORDED)
        if in_doubt:
            AutomationDelivery.objects.filter(pk__in=in_doubt, state=DeliveryState.CLAIMED).update(
                state=DeliveryState.UNKNOWN, reason="worker lost during the call", finished_at=timezone.now()
            )

    @staticmethod
    def _ledger_rows(at_email: list[_Go], revisions: dict) -> dict[tuple[int, int], _LedgerRow]:
        """{(run id, step id): its ledger row}: made by one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (the
        unique constraint decides), and the rows that were already there (after a crash, or a retry) read back."""
        table = connection.ops.quote_name(AutomationDelivery._meta.db_table)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        columns = (("run", "bigint"), ("step", "bigint"), ("person", "bigint"), ("email", "bigint"), ("rev", "bigint"))
        values = [
            (go.run.pk, go.email_step.pk, go.run.subscriber_id, go.email_step.email_id, revisions[go.email_step.pk])
            for go in at_email
        ]
        source, source_params = rows_table(columns, values)
        sql = (
            f"INSERT INTO {table} (run_id, step_id, subscriber_id, email_id, revision_id, state, attempts, "  # noqa: S608
            f"claimed_by, ses_message_id, reason, created_at, bounce_type) "
            f"SELECT run, step, person, email, rev, %s, 0, '', '', '', %s, '' FROM {source} "
            # "WHERE true": without it, SQLite would read the ON of ON CONFLICT as a join's.
            "WHERE true ON CONFLICT DO NOTHING RETURNING id, run_id, step_id"
        )
        params = [DeliveryState.QUEUED, now, *source_params]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            made = cursor.fetchall()
        rows = {(run_id, step_id): _LedgerRow(pk, DeliveryState.QUEUED) for pk, run_id, step_id in made}
        missing = [go for go in at_email if (go.run.pk, go.email_step.pk) not in rows]
        if missing:
            for pk, run_id, step_id, state, attempted_at, reason in AutomationDelivery.objects.filter(
                run_id__in=[go.run.pk for go in missing], step_id__in={go.email_step.pk for go in missing}
            ).values_list("pk", "run_id", "step_id", "state", "attempted_at", "reason"):
                rows[(run_id, step_id)] = _LedgerRow(pk, state, attempted_at, reason)
        return rows

    def _mark(self, ids: list[int], *, outcomes: list[_Outcome]) -> list[int]:
        """One commit: the outcomes SES gave since the last one, and the next rows marked as attempting, unless their
        automation was paused meanwhile (or their run taken back). After it, a crash leaves the marked rows
        ``unknown``, never sent twice; and at no moment are more than SEND_CONCURRENCY rows marked and not recorded.
        Returns the ids marked. The check and the mark are one statement (``UPDATE ... RETURNING``, on PostgreSQL and
        SQLite alike)."""
        now = timezone.now()
        delivery = connection.ops.quote_name(AutomationDelivery._meta.db_table)
        run = connection.ops.quote_name(AutomationRun._meta.db_table)
        automation = connection.ops.quote_name(Automation._meta.db_table)
        placeholders = ", ".join(["%s"] * len(ids))
        sql = (
            f"UPDATE {delivery} SET state = %s, claimed_by = %s, attempted_at = %s "  # noqa: S608
            f"WHERE id IN ({placeholders}) AND state IN (%s, %s) AND attempted_at IS NULL AND EXISTS ("
            f"SELECT 1 FROM {run} r JOIN {automation} a ON a.id = r.automation_id "
            f"WHERE r.id = {delivery}.run_id AND r.claimed_by = %s AND a.state = %s) RETURNING id"
        )
        params = [
            DeliveryState.CLAIMED,
            self.worker_id,
            connection.ops.adapt_datetimefield_value(now),
            *ids,
            DeliveryState.QUEUED,
            DeliveryState.CLAIMED,
            self.worker_id,
            AutomationState.ACTIVE,
        ]
        if connection.vendor == "postgresql":
            # One statement, one round trip, its own commit: the answers in a data-modifying WITH, then the mark.
            final = self._retries_write(outcomes)
            if final:
                record_sql, record_params = _outcomes_sql(final, now=now)
                sql, params = f"WITH recorded AS ({record_sql} RETURNING 1) {sql}", [*record_params, *params]
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return [row[0] for row in cursor.fetchall()]
        with transaction.atomic():
            self._outcomes_write(outcomes, now=now)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return [row[0] for row in cursor.fetchall()]

    def _collect(self, batch: _Batch, outcomes: list[_Outcome]) -> list[_Outcome]:
        for outcome in outcomes:
            batch.outcomes[outcome.delivery_id] = outcome
            self.sent += outcome.state == DeliveryState.SENT
        return outcomes

    def _send(self, batch: _Batch) -> None:
        """Send every row of this batch not already settled: a group at a time, marked (with the answers of the
        calls before it) in one commit, then each call at its slot of the shared rate, with up to SEND_CONCURRENCY
        calls open (campaigns' ``SesCalls``: on threads while the process mostly waits for SES, in its own thread
        when it is busy)."""
        todo = deque(go for go in batch.goes if go.email_step is not None and go.delivery.pk not in batch.outcomes)
        calls, unwritten = self.calls, []
        while todo:
            self.slots.wait_for_lead()
            unwritten += self._collect(batch, calls.collect())
            need = min(self.group_size, len(todo))
            while calls.free() < need:
                unwritten += self._collect(batch, calls.collect(wait_for_one=True))
            group = [todo.popleft() for _ in range(min(calls.free(), self.group_size, len(todo)))]
            marked = set(self._mark([go.delivery.pk for go in group], outcomes=unwritten))
            unwritten = []
            messages = []
            for go in group:
                if go.delivery.pk not in marked:  # paused meanwhile (or the run taken back): not now
                    go.email_step, go.due_at, go.done = None, timezone.now(), True
                    continue
                messages.append(self._message(go, batch))
            if messages:
                calls.start(messages, slots=self.slots.take(len(messages)))
        self._collect(batch, calls.drain())  # written with the batch's record
        for go in batch.goes:  # every email step taken (or found taken): on to what follows it
            if go.email_step is None:
                continue
            outcome = batch.outcomes[go.delivery.pk]
            if outcome.state == DeliveryState.QUEUED:  # SES refused for now: the same step again, a little later
                go.email_step, go.done = None, True
                go.due_at = timezone.now() + timedelta(seconds=settings.AUTOMATION_RETRY_SECONDS)
            elif outcome.state == DeliveryState.FAILED:
                go.email_step = None
                go.leave(LeftReason.FAILED)
            elif outcome.state == DeliveryState.SKIPPED:
                go.email_step = None
                go.leave(LeftReason.SUPPRESSED)
            else:  # sent, or in doubt (perhaps sent): never again, the run goes on
                go.email_step = None
                go.position += 1

    def _message(self, go: _Go, batch: _Batch) -> _Message:
        automation = batch.automations[go.run.automation_id]
        rendered, _ = self.renders.get(go.email_step, automation)
        raw = campaign_message_build(
            rendered=rendered, to=go.run.subscriber.email, subscription=go.subscription, topic_ids=None
        )
        return _Message(go.delivery.pk, go.run.subscriber.email, raw, rendered.sender, automation.pk)

    def _outcomes_write(self, outcomes: list[_Outcome], *, now: datetime) -> None:
        """Write SES's answers to the ledger (inside the caller's transaction): final ones in one statement, "try
        again later" ones (rare) one by one. Marked written, so that the batch's final record skips them."""
        final = self._retries_write(outcomes)
        if not final:
            return
        with connection.cursor() as cursor:
            cursor.execute(*_outcomes_sql(final, now=now))

    @staticmethod
    def _retries_write(outcomes: list[_Outcome]) -> list[_Outcome]:
        """Put back the rows SES refused for now (rare, one by one); return the final outcomes not yet written."""
        final = []
        for outcome in outcomes:
            if outcome.written or outcome.ses_message_id == RECORDED:
                continue
            outcome.written = True
            if outcome.state == DeliveryState.QUEUED:
                AutomationDelivery.objects.filter(pk=outcome.delivery_id, state=DeliveryState.CLAIMED).update(
                    state=DeliveryState.QUEUED, attempted_at=None, claimed_by="", reason=outcome.reason[:255]
                )
            else:
                final.append(outcome)
        return final

    def _record(self, batch: _Batch) -> None:
        """One transaction: the outcomes not written yet, and each run's next step and when it is due, in one
        statement. A run taken back from this worker (its lease ended, or staff stopped it) is left as it now is."""
        now = timezone.now()
        with transaction.atomic():
            self._outcomes_write(list(batch.outcomes.values()), now=now)
            if not batch.goes:
                return
            table = connection.ops.quote_name(AutomationRun._meta.db_table)
            adapt = connection.ops.adapt_datetimefield_value
            columns = (("id", "bigint"), ("pos", "int"), ("state", "text"), ("why", "text"), ("due", "timestamptz"))
            source, source_params = rows_table(
                columns,
                [(go.run.pk, go.position, go.state, go.left_reason, adapt(go.due_at or now)) for go in batch.goes],
            )
            sql = (
                f"UPDATE {table} SET position = v.pos, state = v.state, left_reason = v.why, "  # noqa: S608
                f"due_at = v.due, claimed_by = '', lease_expires_at = NULL, "
                f"finished_at = CASE WHEN v.state = %s THEN NULL ELSE %s END "
                # Still this worker's, and still going (a run that left or finished has its finished_at): said so,
                # and not as "state = 'active'", which would let PostgreSQL choose the partial index of active runs
                # over the primary key, and walk every dead entry a crowd's claims left in it (32 ms against 1 ms
                # for 200 runs, measured).
                f"FROM {source} WHERE {table}.id = v.id AND {table}.claimed_by = %s AND {table}.finished_at IS NULL"
            )
            params = [RunState.ACTIVE, adapt(now), *source_params, self.worker_id]
            with connection.cursor() as cursor:
                cursor.execute(sql, params)


def _outcomes_sql(final: list[_Outcome], *, now: datetime) -> tuple[str, list]:
    """One UPDATE of final outcomes from a table of rows (``rows_table``); a row already settled by an SES event
    meanwhile (sent) is left as it is."""
    table = connection.ops.quote_name(AutomationDelivery._meta.db_table)
    source, source_params = rows_table(
        (("id", "bigint"), ("state", "text"), ("reason", "text"), ("ses_id", "text")),
        [(o.delivery_id, o.state, o.reason[:255], o.ses_message_id) for o in final],
    )
    sql = (
        f"UPDATE {table} SET state = v.state, reason = v.reason, ses_message_id = v.ses_id, "  # noqa: S608
        f"finished_at = %s FROM {source} WHERE {table}.id = v.id AND {table}.state IN (%s, %s)"
    )
    now = connection.ops.adapt_datetimefield_value(now)
    return sql, [now, *source_params, DeliveryState.CLAIMED, DeliveryState.UNKNOWN]


def automations_work(*, worker_id: str | None = None, max_seconds: float | None = None) -> int:
    """Take every due run's steps until none is due. Returns the messages SES accepted."""
    return AutomationWorker(worker_id=worker_id).run(max_seconds=max_seconds)
