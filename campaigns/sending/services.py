"""State changes of a send and of its delivery ledger (DESIGN.md section 6).

Celery messages only wake workers up; the ledger is the truth. A row is claimed under a lease, marked
``attempted_at`` just before its SES call (a small window of rows at a time), and finished with the
outcome. A worker that dies leaves rows whose lease expires: those never attempted go back to the queue,
those attempted become ``unknown`` and are never re-sent automatically (SES has no idempotency key), so
nobody receives a campaign twice.
"""

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.audit import campaign_action_log
from campaigns.authoring.checks import campaign_checks
from campaigns.authoring.rendering import campaign_render
from campaigns.errors import CampaignError
from campaigns.models import CampaignPage, Delivery, DeliveryState, Send, SendAction, SendEvent, SendState
from campaigns.permissions import actor_require, may_send
from campaigns.results.clicks import links_track
from campaigns.results.opens import open_pixel_add
from campaigns.segments.errors import SegmentError
from campaigns.segments.grammar import segment_check
from campaigns.segments.models import Segment
from campaigns.segments.selectors import segment_definition_hold
from campaigns.sending.audience import audience_snapshot
from campaigns.sending.locks import campaign_send_lock
from campaigns.sending.planner import planner_statistics_refresh
from subscribers.outbound import outbound_event_publish

logger = logging.getLogger(__name__)

OPEN_STATES = (DeliveryState.QUEUED, DeliveryState.CLAIMED)
QUOTA_PAUSE_REASON = "The SES daily sending quota is used up; the send resumes when quota is available again."
# How long cancelling waits for the SES calls already open to be recorded by their workers.
CANCEL_WAIT_SECONDS = 5.0


class SendStateError(CampaignError):
    """The send cannot do that in its current state; the message says why."""


def send_create(*, page: CampaignPage, user=None) -> Send:
    """A draft send of the campaign's published revision."""
    # What is sent is what is published, never an unpublished draft (read from the database: the object
    # in hand may predate the last publish).
    revision_id = CampaignPage.objects.filter(pk=page.pk).values_list("live_revision_id", flat=True).first()
    if revision_id is None:
        raise SendStateError("Publish the campaign before sending it.")
    return Send.objects.create(page=page, revision_id=revision_id, created_by=user)


def send_start(*, send: Send) -> Send:
    """Snapshot the audience into the ledger, store the render, and wake workers after commit.

    Idempotent: starting a send that has already started (a double click, a retried request, a scheduler
    that fires twice) changes nothing and creates no second send.
    """
    with transaction.atomic():
        # Lock the campaign's row first: two starts of sends of one campaign (a person and the scheduler,
        # say) then queue here, and the second sees the first and refuses.
        send = campaign_send_lock(page_id=send.page_id, send_id=send.pk)
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
        if page.track_clicks:  # links in the HTML go through /c/<token>/; the text part stays as it is
            send.html_source = links_track(send=send, html=send.html_source)
        if page.track_opens:  # off by default: the count runs high (docs/feedback.md)
            send.html_source = open_pixel_add(send=send, html=send.html_source)
        send.sender, send.reply_to = rendered.sender, rendered.reply_to
        _segment_freeze(send=send, page=page)
        send.started_at = timezone.now()
        # The first chunk of the audience now; the rest, if any, after commit, chunk by chunk, while sending.
        try:
            send.total, end = audience_snapshot(
                send_id=send.pk,
                topic_ids=[t.pk for t in page.topics.all()],
                # A smaller first chunk: it is written in this transaction, before anyone can be mailed.
                size=min(settings.SEND_SNAPSHOT_FIRST_CHUNK, settings.SEND_SNAPSHOT_CHUNK),
                segment_definition=send.segment_definition,
                now=send.started_at,
            )
        except SegmentError as err:
            raise SendStateError(f"The segment {send.segment_name!r} cannot be used as it is: {err}") from err
        send.audience_complete, send.audience_cursor = end is None, end or 0
        send.state = SendState.SENDING
        send.save()
        _send_announce(send=send, type="send.started", total=send.total)
        transaction.on_commit(lambda: _wake_workers(send.pk))
        if end is not None:
            transaction.on_commit(lambda: _audience_continue_later(send.pk))
    return send


def _segment_freeze(*, send: Send, page: CampaignPage) -> None:
    """Copy the campaign's segment onto the send as it is now: the send's audience, all of its chunks, and what the
    send page shows keep to this copy whatever happens to the segment later."""
    if page.segment_id is None:
        send.segment, send.segment_name, send.segment_definition = None, "", None
        return
    segment = Segment.objects.filter(pk=page.segment_id).first()
    for _ in range(FREEZE_TRIES):
        if segment is None:
            raise SendStateError("The campaign's segment no longer exists: choose another and publish the campaign.")
        refused = None
        try:
            # Held until the start commits, as a segment's save holds them: an attribute the copy names is not
            # deleted (nor a choice it names removed) while the send starts.
            definition = segment_definition_hold(segment.definition)
        except SegmentError as err:
            refused = err
        # The hold may have waited for a change committed meanwhile (the segment edited, then an attribute it
        # named deleted): the copy is of the segment as it is now, held in its turn.
        now = Segment.objects.filter(pk=segment.pk).first()
        if now is not None and now.definition == segment.definition:
            if refused is not None:
                raise SendStateError(f"The segment {segment.name!r} cannot be used as it is: {refused}") from refused
            break
        segment = now
    else:
        raise SendStateError(f"The segment {segment.name!r} kept changing while the send started: start it again.")
    send.segment, send.segment_name, send.segment_definition = segment, segment.name, definition


OPEN_SEND_STATES = (SendState.SCHEDULED, SendState.SENDING, SendState.PAUSED)
FREEZE_TRIES = 3  # the segment read again after holding its attributes, while it changes under the start


def _open_send_refuse(*, page_id: int, exclude_id: int | None = None) -> None:
    """Refuse when another send of the campaign is scheduled, sending or paused: one campaign, one send at a time."""
    other = Send.objects.filter(page_id=page_id, state__in=OPEN_SEND_STATES).exclude(pk=exclude_id).first()
    if other is None:
        return
    if other.state == SendState.SCHEDULED:
        when = timezone.localtime(other.scheduled_for).strftime("%d %b %Y %H:%M")
        raise SendStateError(f"This campaign is already scheduled for {when}. Cancel that schedule first.")
    raise SendStateError("This campaign is already being sent.")


def send_now(*, page: CampaignPage, user=None, seen_send_id: int | None = None) -> Send:
    """Create and start a send of the published campaign: the confirmation step's "Send now".

    The campaign's row is locked for the transaction, so two requests for the same campaign run one after the
    other; a send of this campaign newer than ``seen_send_id`` (the newest the confirmation step showed) means
    the confirmation was already used, by a double click or a resubmitted form, and is refused. Either way one
    send starts, not two. Raises SendStateError, and leaves no draft behind, when it cannot start, and
    CampaignForbidden when ``user`` may not send it.
    """
    actor_require(may_send, page=page, user=user, action="send")
    with transaction.atomic():
        campaign_send_lock(page_id=page.pk)
        if seen_send_id is not None and Send.objects.filter(page_id=page.pk, pk__gt=seen_send_id).exists():
            raise SendStateError("This campaign was sent or scheduled after this confirmation was shown.")
        _open_send_refuse(page_id=page.pk)
        if page.live_revision_id is None:
            raise SendStateError("Publish the campaign before sending it.")
        send = send_start(send=send_create(page=page, user=user))
        campaign_action_log(instance=send, action="campaigns.send_now", user=user, data={"recipients": send.total})
        return send


def send_schedule(*, send: Send, when: datetime, user=None) -> Send:
    """Schedule a draft (or move a scheduled) send to ``when``; the beat sweeper starts it once it is due.

    Refused, changing nothing, for a time not in the future, for a send past scheduling, when another send of
    the same campaign is scheduled, sending or paused (it would otherwise mail everyone twice), and when the
    campaign fails its checks now (it would otherwise fail silently at the scheduled time); CampaignForbidden when
    ``user`` may not send it.
    """
    actor_require(may_send, page=send.page, user=user, action="schedule")
    if when <= timezone.now():
        raise SendStateError("Choose a time in the future.")
    with transaction.atomic():
        locked = campaign_send_lock(page_id=send.page_id, send_id=send.pk)
        if locked.state not in (SendState.DRAFT, SendState.SCHEDULED):
            raise SendStateError(f"This send is {locked.get_state_display().lower()}; it can no longer be scheduled.")
        _open_send_refuse(page_id=locked.page_id, exclude_id=locked.pk)
        page = locked.revision.as_object()
        checks = campaign_checks(rendered=campaign_render(page=page), subject=page.subject)
        failed = [c.name for c in checks if not c.passed]
        if failed:
            raise SendStateError("The campaign does not pass its checks: " + ", ".join(failed) + ".")
        locked.state, locked.scheduled_for = SendState.SCHEDULED, when
        locked.save(update_fields=["state", "scheduled_for"])
        campaign_action_log(
            instance=locked, action="campaigns.send_schedule", user=user, data={"scheduled_for": when.isoformat()}
        )
    send.refresh_from_db()
    return send


def send_schedule_new(*, page: CampaignPage, when: datetime, user=None, seen_send_id: int | None = None) -> Send:
    """Create a send of the published campaign and schedule it for ``when``, or nothing at all.

    ``seen_send_id`` works as in ``send_now``: a send of this campaign newer than it means the request was already
    acted on (a retried request, a double click) and is refused. Raises what ``send_create`` and ``send_schedule``
    raise; a refusal leaves no draft behind.
    """
    actor_require(may_send, page=page, user=user, action="schedule")
    with transaction.atomic():
        campaign_send_lock(page_id=page.pk)
        if seen_send_id is not None and Send.objects.filter(page_id=page.pk, pk__gt=seen_send_id).exists():
            raise SendStateError("This campaign was sent or scheduled after this confirmation was shown.")
        return send_schedule(send=send_create(page=page, user=user), when=when, user=user)


def _audience_continue_later(send_id: int) -> None:
    from campaigns.tasks import send_audience_task

    send_audience_task.delay(send_id=send_id)


def send_audience_continue(*, send_id: int) -> int:
    """Write the rest of a send's audience, one chunk per transaction; return the rows written.

    Each chunk locks the send, continues from its cursor and wakes workers after it commits, so sending goes
    on meanwhile. Safe to run twice at once or after a crash: the lock serialises runs, the cursor says where
    to go on, and rows already written are not written again. A cancelled send's audience stops here.
    """
    send = Send.objects.select_related("revision").get(pk=send_id)
    if send.segment_definition is not None and not send.audience_complete:
        # Checked once, before any work: a name gone mid-write fails that run, and the sweep's next run pauses here.
        try:
            segment_check(send.segment_definition)
        except SegmentError as err:
            _audience_unreadable(send=send, problem=err)
            return 0
    topic_ids = [t.pk for t in send.revision.as_object().topics.all()]
    # A large audience (there is a rest to write): the workers' statements planned for the rows of its first chunk,
    # already committed, not for the table as autovacuum last saw it (docs/sending.md).
    planner_statistics_refresh(Delivery)
    written = 0
    while True:
        with transaction.atomic():
            send = Send.objects.select_for_update().get(pk=send_id)
            if send.audience_complete:
                return written
            if send.state not in (SendState.SENDING, SendState.PAUSED):
                send.audience_complete = True
                send.save(update_fields=["audience_complete"])
                return written
            rows, end = audience_snapshot(
                send_id=send_id,
                topic_ids=topic_ids,
                after=send.audience_cursor,
                size=settings.SEND_SNAPSHOT_CHUNK,
                segment_definition=send.segment_definition,  # the copy made at the start, never the segment now
                now=send.started_at,
            )
            written += rows
            send.total += rows
            send.audience_complete, send.audience_cursor = end is None, end or send.audience_cursor
            send.save(update_fields=["total", "audience_complete", "audience_cursor"])
            if send.state == SendState.SENDING:
                transaction.on_commit(lambda: _wake_workers(send_id, count=1))


def _audience_unreadable(*, send: Send, problem: SegmentError) -> None:
    """The copy of the segment taken at the start names something that is gone (a topic renamed, say): pause the
    send, its audience half written, and say why, rather than fail every chunk again each minute. The rows written
    stay; nothing is sent to anyone the segment did not select. Staff cancel it, or resume it once the name is back."""
    # What to do first, then the problem's first clause (the rest lists every topic or choice, and is cut).
    reason = (
        "The segment's conditions can no longer be read: cancel the send, or put the name back and resume "
        f"({problem.problem.split(';')[0]})"
    )[:255]
    if send.state == SendState.SENDING:
        send_pause(send=send, reason=reason)
        logger.warning("send %s paused, its audience half written: %s", send.pk, problem)
    elif send.state == SendState.PAUSED and send.pause_reason != reason:
        Send.objects.filter(pk=send.pk, state=SendState.PAUSED).update(pause_reason=reason)


def _wake_workers(send_id: int, count: int | None = None) -> None:
    from campaigns.tasks import send_work_task

    for _ in range(count or settings.SEND_WORKERS_PER_SEND):
        send_work_task.delay(send_id=send_id)


def send_wake_later(*, send_id: int, seconds: float) -> None:
    """Queue one wake-up for the send ``seconds`` from now: for rows in a long backoff, or for the rows a stopping
    worker gave back. Tasks run inline (the test settings) have no later: there the caller's loop goes on instead."""
    from campaigns.tasks import send_work_task

    if send_work_task.app.conf.task_always_eager:
        return
    send_work_task.apply_async(kwargs={"send_id": send_id}, countdown=max(0.0, seconds))


def _send_announce(*, send: Send, type: str, **data) -> None:
    """Tell other systems (outgoing webhooks) about a send's state, in the transaction that changed it. Once per
    state change of a send, never per message: nothing here runs in the send loop."""
    outbound_event_publish(
        type=type,
        data={"send": send.pk, "campaign": send.page_id, **data},
        ordering_key=f"send:{send.pk}",
    )


def _send_event(*, send: Send, action: str, user=None, rows: int = 0, detail: str = "") -> None:
    """The send's own history, and for a person's action the site's audit log."""
    SendEvent.objects.create(send_id=send.pk, action=action, user=user, rows=rows, detail=detail)
    campaign_action_log(instance=send, action=f"campaigns.send_{SEND_LOG_ACTIONS[action]}", user=user)


SEND_LOG_ACTIONS = {SendAction.PAUSED: "pause", SendAction.RESUMED: "resume", SendAction.CANCELLED: "cancel"}


def send_pause(*, send: Send, user=None, reason: str = "Paused by staff") -> Send:
    """Workers stop before their next message; claimed rows they had not attempted go back to the queue.

    ``user`` is who paused it; None for the platform itself (the reputation guard, the daily quota), whose
    ``reason`` says why. The send's history records either.
    """
    actor_require(may_send, page=send.page, user=user, action="pause")
    with transaction.atomic():
        paused = Send.objects.filter(pk=send.pk, state=SendState.SENDING).update(
            state=SendState.PAUSED, pause_reason=reason[:255]
        )
        if paused:  # a person's pause needs no reason in the history; the platform's says why
            _send_event(send=send, action=SendAction.PAUSED, user=user, detail="" if user else reason)
            _send_announce(send=send, type="send.paused", by="staff" if user else "platform")
    send.refresh_from_db()
    return send


def send_resume(*, send: Send, user=None) -> Send:
    """Back to sending, by ``user``: workers are woken after commit."""
    actor_require(may_send, page=send.page, user=user, action="resume")
    with transaction.atomic():
        updated = Send.objects.filter(pk=send.pk, state=SendState.PAUSED).update(
            state=SendState.SENDING, pause_reason=""
        )
        if updated:
            _send_event(send=send, action=SendAction.RESUMED, user=user)
            transaction.on_commit(lambda: _wake_workers(send.pk))
    send.refresh_from_db()
    return send


def send_cancel(*, send: Send, user=None) -> Send:
    """Stop for good, by ``user``: when this returns, no row of the send is queued or claimed.

    The state changes first, in its own short commit, so no worker marks another row as attempting; then every row
    not attempted is skipped, and the few SES calls already open (at most one window per worker) are waited for, up
    to ``CANCEL_WAIT_SECONDS``, while their workers record them. A call of a worker that died meanwhile is left to its
    lease (the sweeper) rather than waited for.
    """
    actor_require(may_send, page=send.page, user=user, action="cancel")
    with transaction.atomic():
        updated = Send.objects.filter(
            pk=send.pk, state__in=(SendState.DRAFT, SendState.SCHEDULED, SendState.SENDING, SendState.PAUSED)
        ).update(state=SendState.CANCELLED, finished_at=timezone.now())
        if updated:
            _send_event(send=send, action=SendAction.CANCELLED, user=user)
    if updated:
        _cancelled_rows_skip(send_id=send.pk)
        _in_flight_wait(send_id=send.pk, seconds=CANCEL_WAIT_SECONDS)
        _cancelled_rows_skip(send_id=send.pk)  # a call refused for now was put back to the queue meanwhile
    send.refresh_from_db()
    return send


def _cancelled_rows_skip(*, send_id: int) -> int:
    not_attempted = Q(state=DeliveryState.QUEUED) | Q(state=DeliveryState.CLAIMED, attempted_at__isnull=True)
    return (
        Delivery.objects.filter(send_id=send_id)
        .filter(not_attempted)
        .update(
            state=DeliveryState.SKIPPED,
            reason="send cancelled",
            finished_at=timezone.now(),
            claimed_by="",
            lease_expires_at=None,
        )
    )


def _in_flight_wait(*, send_id: int, seconds: float) -> bool:
    """Wait until no row of the send is in an open SES call (claimed, attempted, lease alive). True if none is."""
    deadline = time.monotonic() + seconds
    while True:
        open_calls = Delivery.objects.filter(send_id=send_id, state=DeliveryState.CLAIMED, attempted_at__isnull=False)
        in_flight = open_calls.filter(lease_expires_at__gt=timezone.now()).exists()
        if not in_flight:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def send_finish_if_done(*, send_id: int) -> bool:
    """A send is ``sent`` only when its whole audience is written and no row is queued or claimed any more.

    The send is locked for the check, as every service that puts rows back in its queue locks it first (a resend of
    rows in doubt): the two run one after the other, never finishing a send with rows just queued in it.
    """
    with transaction.atomic():
        send = (
            Send.objects.select_for_update()
            .filter(pk=send_id, state=SendState.SENDING, audience_complete=True)
            .only("pk")
            .first()
        )
        if send is None or Delivery.objects.filter(send_id=send_id, state__in=OPEN_STATES).exists():
            return False
        Send.objects.filter(pk=send_id).update(state=SendState.SENT, finished_at=timezone.now())
        _send_announce(send=send, type="send.finished", state=SendState.SENT.value)
    return True


def delivery_claim_batch(*, send_id: int, worker_id: str, size: int, after_id: int = 0) -> list[int]:
    """Claim up to ``size`` queued rows in id order, under a lease, skipping rows other workers hold.

    ``after_id`` starts the search after that row. A worker passes the last row it claimed, so that its search
    does not begin at the front of the send's queued rows: until the database's housekeeping (autovacuum) has
    run, the index entries of every row already claimed stay there, dead, and a search from the front reads past
    all of them, a million of them late in a million-recipient send. Rows put back behind that position (a retry,
    a row given back) are found by a search from the front, which the worker makes when the one from its
    position comes up empty and every little while (``ClaimPosition``).
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(send_id=send_id, state=DeliveryState.QUEUED, id__gt=after_id)
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


def delivery_next_retry_seconds(*, send_id: int) -> float | None:
    """Seconds until the first queued row of the send may be claimed (0 when one may be now); None when no row is
    queued."""
    queued = Delivery.objects.filter(send_id=send_id, state=DeliveryState.QUEUED)
    if queued.filter(Q(not_before__isnull=True) | Q(not_before__lte=timezone.now())).exists():
        return 0.0
    first = queued.order_by("not_before").values_list("not_before", flat=True).first()
    if first is None:
        return None
    return max((first - timezone.now()).total_seconds(), 0.0)


def delivery_release(*, ids: list[int], worker_id: str) -> int:
    """Give back claimed rows this worker has not attempted (on pause, or when it stops early)."""
    return Delivery.objects.filter(
        pk__in=ids, claimed_by=worker_id, state=DeliveryState.CLAIMED, attempted_at__isnull=True
    ).update(state=DeliveryState.QUEUED, claimed_by="", lease_expires_at=None)


def deliveries_attempting(*, send_id: int, worker_id: str, ids: list[int]) -> list[int]:
    """Mark this worker's rows as about to be sent (before their SES calls); return the ids marked, in order.

    Only rows the worker still holds are marked (a row whose lease the sweeper took back is not), and none
    once the send is paused or cancelled: the check and the mark are one statement. After a crash the marked
    rows become ``unknown``. Written in SQL (``UPDATE ... RETURNING``, on PostgreSQL and SQLite alike): it runs
    for every few messages, and the ORM took longer to build it than the database to run it.
    """
    if not ids:
        return []
    sql, params = _attempting_sql(send_id=send_id, worker_id=worker_id, ids=ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def _attempting_sql(*, send_id: int, worker_id: str, ids: list[int]) -> tuple[str, list]:
    delivery = connection.ops.quote_name(Delivery._meta.db_table)
    send = connection.ops.quote_name(Send._meta.db_table)
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        f"UPDATE {delivery} SET attempted_at = %s WHERE id IN ({placeholders}) AND send_id = %s "  # noqa: S608
        f"AND claimed_by = %s AND state = %s AND EXISTS (SELECT 1 FROM {send} WHERE id = %s AND state = %s) "
        "RETURNING id"
    )
    return sql, [timezone.now(), *ids, send_id, worker_id, DeliveryState.CLAIMED, send_id, SendState.SENDING]


def deliveries_record_and_mark(*, outcomes: list["Outcome"], send_id: int, worker_id: str, ids: list[int]) -> list[int]:
    """``deliveries_record`` of the answers a worker holds and ``deliveries_attempting`` of its next rows, in one
    transaction; return the ids marked.

    A worker does this before every few SES calls, so on PostgreSQL the two are one statement (the outcomes in a
    data-modifying ``WITH``): one round trip and no separate commit, instead of three. Retries, which are rare,
    and SQLite take the two statements in a transaction.
    """
    if not ids:
        with transaction.atomic():
            deliveries_record(outcomes=outcomes)
        return []
    final = [o for o in outcomes if o.state != DeliveryState.QUEUED]
    if connection.vendor != "postgresql" or len(final) < len(outcomes):
        with transaction.atomic():
            deliveries_record(outcomes=outcomes)
            return deliveries_attempting(send_id=send_id, worker_id=worker_id, ids=ids)
    sql, params = _attempting_sql(send_id=send_id, worker_id=worker_id, ids=ids)
    if final:
        record_sql, record_params = _record_sql(final)
        sql, params = f"WITH recorded AS ({record_sql} RETURNING 1) {sql}", [*record_params, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def deliveries_lease_renew(*, send_id: int, worker_id: str) -> int:
    """Extend the lease on every row this worker holds: a long batch at a low rate keeps its rows."""
    return Delivery.objects.filter(send_id=send_id, claimed_by=worker_id, state=DeliveryState.CLAIMED).update(
        lease_expires_at=timezone.now() + timedelta(seconds=settings.SEND_LEASE_SECONDS)
    )


@dataclass(frozen=True)
class Outcome:
    """What became of one row: a final state (sent, failed, unknown, skipped) or ``queued`` to try again."""

    delivery_id: int
    state: str
    reason: str = ""
    ses_message_id: str = ""
    attempts: int = 0  # attempts before this one; used for the backoff of a retry


def deliveries_record(*, outcomes: list[Outcome]) -> None:
    """Write many rows' final outcomes in one statement (retries, which are rare, one by one).

    One ``UPDATE ... FROM (VALUES ...)``, which PostgreSQL and SQLite both run: the ORM's ``Case``/``When``
    took milliseconds per window to build, which showed in the send benchmark.
    """
    final = []
    for outcome in outcomes:
        if outcome.state == DeliveryState.QUEUED:
            delivery_retry_later(delivery_id=outcome.delivery_id, attempts=outcome.attempts, reason=outcome.reason)
        else:
            final.append(outcome)
    if not final:
        return
    with connection.cursor() as cursor:
        cursor.execute(*_record_sql(final))


def _record_sql(final: list["Outcome"]) -> tuple[str, list]:
    table = connection.ops.quote_name(Delivery._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(final))
    params = [timezone.now()]
    for outcome in final:
        params += [outcome.delivery_id, outcome.state, outcome.reason[:255], outcome.ses_message_id]
    sql = (
        f"UPDATE {table} SET state = v.column2, reason = v.column3, ses_message_id = v.column4, "  # noqa: S608
        f"finished_at = %s, lease_expires_at = NULL FROM (VALUES {values}) AS v WHERE {table}.id = v.column1"
    )
    return sql, params


def delivery_retry_later(*, delivery_id: int, attempts: int, reason: str) -> None:
    """SES refused for now (throttling, 5xx, no connection): back to the queue with exponential backoff.

    The wait is 1, 2, 4 ... seconds (at most five minutes), of which the second half is random: rows refused in the
    same instant come back spread out rather than together, and the last ones refused do not all wait the whole step.
    """
    step = min(2**attempts, 300)
    delay = step / 2 + random.uniform(0, step / 2)  # noqa: S311 - spreading retries, not a secret
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
    result = deliveries_sweep()
    now = timezone.now()
    for send in Send.objects.filter(state=SendState.SCHEDULED, scheduled_for__lte=now):
        try:
            send_start(send=send)
        except SendStateError as err:
            # Back to draft, with the reason on the send, so that staff see it rather than a log line.
            logger.error("Scheduled send %s did not start: %s", send.pk, err)
            Send.objects.filter(pk=send.pk, state=SendState.SCHEDULED).update(
                state=SendState.DRAFT, pause_reason=f"Did not start at the scheduled time: {err}"[:255]
            )
    quota_paused = Send.objects.filter(state=SendState.PAUSED, pause_reason=QUOTA_PAUSE_REASON)
    if quota_paused.exists() and _quota_available():
        for send in quota_paused:
            send_resume(send=send)
    if Send.objects.filter(state=SendState.SENDING).exists():
        from campaigns.feedback.reputation import reputation_guard

        reputation_guard(force=True)
    for send_id in (
        Send.objects.filter(state=SendState.CANCELLED, deliveries__state=DeliveryState.QUEUED)
        .values_list("pk", flat=True)
        .distinct()
    ):
        _cancelled_rows_skip(send_id=send_id)  # a cancel interrupted between its two steps
    # An audience left half written (a lost task, a crash) is taken up again; running twice is harmless.
    for send_id in Send.objects.filter(
        state__in=(SendState.SENDING, SendState.PAUSED), audience_complete=False
    ).values_list("pk", flat=True):
        _audience_continue_later(send_id)
    woken = 0
    for send_id in Send.objects.filter(state=SendState.SENDING).values_list("pk", flat=True):
        if Delivery.objects.filter(send_id=send_id, state=DeliveryState.QUEUED).exists():
            _wake_workers(send_id, count=1)
            woken += 1
        else:
            send_finish_if_done(send_id=send_id)
    return {**result, "woken": woken}


def _quota_available() -> bool:
    from mailer.ses import SesError, ses_send_quota

    try:
        quota = ses_send_quota()
    except SesError:
        return False
    return quota["SentLast24Hours"] < quota["Max24HourSend"]
