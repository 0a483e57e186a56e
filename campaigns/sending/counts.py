"""A send's ledger rows by state: counted while the send is open, kept on the send once it has ended.

Over a million rows, counting one send's ledger by state takes about a second, and the dashboard, the list of sends
and the API show many sends at once (docs/BENCHMARKS.md, "The admin over a million subscribers"). Once a send has
ended (sent or cancelled) and none of its rows is queued or claimed, its counts almost never change, so the first
count after that is kept on the send (``Send.state_counts``) and read from there.

What can still change the rows of an ended send calls ``send_counts_forget`` after its change: an SES event that
settles a row in doubt, or a rejection after acceptance (campaigns.feedback.events), and staff sending rows in doubt
again (campaigns.sending.in_doubt). Forgetting also moves ``Send.ledger_version``, and counts are kept only if the
version is still the one the send had when it was read before counting; so a count that raced a change is never
kept, whichever of the two committed first.
"""

from django.db.models import Count, F, Q

from campaigns.models import Delivery, DeliveryState, Send, SendState

ENDED = (SendState.SENT, SendState.CANCELLED)
OPEN_ROW_STATES = (DeliveryState.QUEUED, DeliveryState.CLAIMED)


def _count(*, send_ids: list[int], since=None) -> dict[int, dict[str, int]]:
    """{send id: {state: rows, "recent_<state>": rows finished since ``since``}} in one GROUP BY query."""
    annotations = {"rows": Count("id")}
    if since is not None:
        annotations["recent"] = Count("id", filter=Q(finished_at__gte=since))
    counts: dict[int, dict[str, int]] = {send_id: {} for send_id in send_ids}
    if not send_ids:
        return counts
    for row in Delivery.objects.filter(send_id__in=send_ids).values("send_id", "state").annotate(**annotations):
        counts[row["send_id"]][row["state"]] = row["rows"]
        if since is not None:
            counts[row["send_id"]][f"recent_{row['state']}"] = row["recent"]
    return counts


def _keep(send: Send, counts: dict[str, int]) -> None:
    by_state = {state: rows for state, rows in counts.items() if not state.startswith("recent_")}
    if send.state not in ENDED or any(by_state.get(state) for state in OPEN_ROW_STATES):
        return
    Send.objects.filter(pk=send.pk, state__in=ENDED, ledger_version=send.ledger_version).update(state_counts=by_state)
    send.state_counts = by_state


def send_state_counts(*, sends: list[Send], since=None) -> dict[int, dict[str, int]]:
    """{send id: {state: rows}} for ``sends`` as loaded (their state and ``ledger_version`` read before this call):
    the kept counts of ended sends, and one GROUP BY query for the others, whose counts are kept when they have
    ended with no row open. With ``since``, counted sends also get "recent_<state>": rows finished since then (an
    ended send has none worth a rate)."""
    kept = {send.pk: dict(send.state_counts) for send in sends if send.state_counts is not None}
    counting = [send for send in sends if send.state_counts is None]
    counted = _count(send_ids=[send.pk for send in counting], since=since)
    for send in counting:
        _keep(send, counted[send.pk])
    return {**counted, **kept}


def send_counts_forget(*, send_ids) -> None:
    """The rows of these sends changed after they may have been counted and kept: count them again next time."""
    ids = sorted(set(send_ids))
    if ids:
        Send.objects.filter(pk__in=ids).update(state_counts=None, ledger_version=F("ledger_version") + 1)
