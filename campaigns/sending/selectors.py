"""Reads for the sending admin: a send's progress and the recent sends, their rows counted by state (counts.py)."""

import math
from datetime import timedelta

from django.utils import timezone

from campaigns.models import Delivery, DeliveryState, Send, SendAction, SendEvent, SendState
from campaigns.sending.counts import send_state_counts

RATE_WINDOW_SECONDS = 10
FINAL_STATES = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SKIPPED, DeliveryState.UNKNOWN)
UNKNOWN_LISTED_MAX = 200
PAUSES_READ = 50  # pauses and resumes read back to find the paused seconds of the rate's window; far more than fit


def _progress(send: Send, counts: dict[str, int], *, now=None, sending_seconds: float = RATE_WINDOW_SECONDS) -> dict:
    by_state = {state: counts.get(state, 0) for state in DeliveryState.values}
    done = sum(by_state[state] for state in FINAL_STATES)
    total = send.total or sum(by_state.values())
    progress = {
        "id": send.pk,
        "state": send.state,
        "state_label": send.get_state_display(),
        "pause_reason": send.pause_reason,
        "total": total,
        **by_state,
        "in_flight": by_state[DeliveryState.CLAIMED],
        "done": done,
        "remaining": max(total - done, 0),
        # Rounded down, so the bar shows 100% only when every row has its outcome.
        "percent": math.floor(1000 * done / total) / 10 if total else (100.0 if send.state == SendState.SENT else 0.0),
        "rate": None,
        "eta_seconds": None,
        "scheduled_for": send.scheduled_for.isoformat() if send.scheduled_for else None,
        "started_at": send.started_at.isoformat() if send.started_at else None,
        "finished_at": send.finished_at.isoformat() if send.finished_at else None,
    }
    if now is not None:
        # Messages SES accepted in the last few seconds of sending; the ETA uses every row that reached an outcome,
        # since rows skipped at the re-check also bring the end nearer.
        seconds = max(sending_seconds, 1.0)
        progress["rate"] = round(counts.get(f"recent_{DeliveryState.SENT}", 0) / seconds, 1)
        finishing = sum(counts.get(f"recent_{state}", 0) for state in FINAL_STATES) / seconds
        if send.state == SendState.SENDING and finishing > 0:
            progress["eta_seconds"] = round(progress["remaining"] / finishing)
    return progress


def send_sending_seconds(*, send: Send, since, now) -> float:
    """Seconds between ``since`` and ``now`` during which the send was not paused, from its history of pauses and
    resumes (``SendEvent``), in one query: a rate measured over the whole window after a resume would count the
    paused seconds, and the time left would run long ("about 7 min" for a send nearly done)."""
    events = (
        SendEvent.objects.filter(send=send, action__in=(SendAction.PAUSED, SendAction.RESUMED), created_at__lte=now)
        .order_by("-created_at", "-pk")
        .values_list("action", "created_at")[:PAUSES_READ]
    )
    paused, end = 0.0, now
    # Newest first: from each event until the next one (or now), the send was paused if the event is a pause.
    # Before its first pause a send was sending, so running out of events ends the walk too.
    for action, at in events:
        if action == SendAction.PAUSED:
            paused += (end - max(at, since)).total_seconds()
        if at <= since:
            break
        end = at
    return max((now - since).total_seconds() - paused, 0.0)


def send_progress(*, send: Send) -> dict:
    """Where a send stands: rows by outcome, percent done, the current rate (messages per second over the last
    ten seconds of sending, paused seconds left out) and the ETA at that rate (None when nothing moved lately or
    the send is not sending).

    Counts come from one GROUP BY query over the ledger, or are those kept once the send ended (counts.py); no
    email address is read.
    """
    send.refresh_from_db()
    now = timezone.now()
    since = now - timedelta(seconds=RATE_WINDOW_SECONDS)
    counts = send_state_counts(sends=[send], since=since)[send.pk]
    return _progress(send, counts, now=now, sending_seconds=send_sending_seconds(send=send, since=since, now=now))


def send_unknown_deliveries(*, send: Send, limit: int = UNKNOWN_LISTED_MAX) -> list[dict]:
    """Rows in doubt (a worker was lost during their SES call): ids and times only, never the recipient."""
    return list(
        Delivery.objects.filter(send=send, state=DeliveryState.UNKNOWN)
        .order_by("id")
        .values("id", "attempted_at", "finished_at", "reason")[:limit]
    )


def send_history(*, send: Send, limit: int = 100) -> list[SendEvent]:
    """What staff did to a send, oldest first, with who did it (the ``SendEvent`` log)."""
    return list(SendEvent.objects.filter(send=send).select_related("user").order_by("created_at", "pk")[:limit])


def sends_recent(*, limit: int = 50, page_id: int | None = None) -> list[tuple[Send, dict]]:
    """The newest sends (of one campaign when ``page_id`` is given) with their progress; one GROUP BY query
    counts the rows of all of them that have not ended (ended ones keep theirs)."""
    sends = Send.objects.select_related("page", "created_by").order_by("-created_at", "-pk")
    if page_id is not None:
        sends = sends.filter(page_id=page_id)
    sends = list(sends[:limit])
    counts = send_state_counts(sends=sends)
    return [(send, _progress(send, counts[send.pk])) for send in sends]


def sends_progress(*, sends: list[Send]) -> dict[int, dict]:
    """{send id: progress} for a page of sends, counted in one GROUP BY query: the numbers ``send_progress`` gives,
    without the rate and the time left (which need each send's recent history)."""
    counts = send_state_counts(sends=sends)
    return {send.pk: _progress(send, counts[send.pk]) for send in sends}


def send_open_for_campaign(*, page_id: int) -> Send | None:
    """The campaign's send that is scheduled, sending or paused, if any (there is at most one)."""
    open_states = (SendState.SCHEDULED, SendState.SENDING, SendState.PAUSED)
    return Send.objects.filter(page_id=page_id, state__in=open_states).order_by("-pk").first()


def send_last_finished(*, page_id: int) -> Send | None:
    """The campaign's most recent completed send, to warn before mailing everyone again."""
    return Send.objects.filter(page_id=page_id, state=SendState.SENT).order_by("-finished_at", "-pk").first()


def send_newest_id(*, page_id: int) -> int:
    """The id of the campaign's newest send (0 for none): the confirmation step carries it, so that it is used once."""
    return Send.objects.filter(page_id=page_id).order_by("-pk").values_list("pk", flat=True).first() or 0
