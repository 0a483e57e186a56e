"""Settling rows in doubt: the deliveries SES never confirmed, and the one thing staff may do about them.

A row is ``unknown`` when the outcome of its SES call is not known: the answer was lost, or the worker died
during the call. SES has no idempotency key, so such a row is never sent again automatically. When SES did
accept the message, its Send (or Delivery) event, carrying the row's ``delivery`` tag, settles the row as
``sent`` within seconds (``campaigns.feedback.events``), provided the configuration set publishes Send events
(``mailer.ses.ses_send_events_problem``).

A row still ``unknown`` ``SEND_UNCONFIRMED_AFTER_MINUTES`` after its call, with no SES event about it at all,
most likely never reached SES. Staff may then send those rows again, once, through the ledger like any other
attempt (the worker re-checks consent and suppression for each). The risk is theirs to accept and is said
plainly where they decide: an event can be lost or late, so some of those people may get the email twice.

The reads for the progress page and the action live together here, being about one small thing.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from campaigns.audit import campaign_action_log
from campaigns.models import Delivery, DeliveryState, Send, SendAction, SendEvent, SendState
from campaigns.permissions import actor_require, may_send
from campaigns.sending import services as sending
from campaigns.sending.counts import send_counts_forget
from campaigns.sending.services import SendStateError

RESENT_REASON = "sent again by staff: SES never confirmed the first attempt"
# Every SES event we record on a row; any of them means SES had the message (a Send or Delivery event would
# already have made the row ``sent``).
_NO_SES_EVENT = Q(delivered_at__isnull=True, bounced_at__isnull=True, complained_at__isnull=True)
_NOT_RESENT = Q(resent_at__isnull=True)


class UnconfirmedResendError(SendStateError):
    """Nothing was sent again; the message says why."""


def _cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(minutes=settings.SEND_UNCONFIRMED_AFTER_MINUTES)


def deliveries_unconfirmed(*, send: Send, now: datetime | None = None) -> QuerySet[Delivery]:
    """The rows of ``send`` that may be sent again: ``unknown``, their SES call made more than
    ``SEND_UNCONFIRMED_AFTER_MINUTES`` ago, no SES event recorded for them since, and never sent again before.

    Whether each recipient may still be mailed is not asked here: the worker checks that for every row it claims.
    """
    return Delivery.objects.filter(
        _NO_SES_EVENT & _NOT_RESENT,
        send_id=send.pk,
        state=DeliveryState.UNKNOWN,
        attempted_at__lt=_cutoff(now),
    )


def send_in_doubt_summary(*, send: Send, now: datetime | None = None) -> dict:
    """The rows in doubt of ``send``, counted in one aggregate query, for the progress page:

    - ``unconfirmed``: rows that may be sent again now (``deliveries_unconfirmed``);
    - ``waiting`` and ``next_at``: rows in doubt too recently, and when the first of them qualifies;
    - ``resent_before``: rows in doubt again after being sent again once: never offered twice;
    - ``with_event``: rows SES reported a bounce or complaint for, so SES had them; never offered.
    """
    cutoff = _cutoff(now)
    fresh = _NO_SES_EVENT & _NOT_RESENT
    counts = Delivery.objects.filter(send_id=send.pk, state=DeliveryState.UNKNOWN).aggregate(
        unconfirmed=Count("pk", filter=fresh & Q(attempted_at__lt=cutoff)),
        waiting=Count("pk", filter=fresh & Q(attempted_at__gte=cutoff)),
        waiting_since=Min("attempted_at", filter=fresh & Q(attempted_at__gte=cutoff)),
        resent_before=Count("pk", filter=~_NOT_RESENT),
        with_event=Count("pk", filter=_NOT_RESENT & ~_NO_SES_EVENT),
    )
    since = counts.pop("waiting_since")
    wait = timedelta(minutes=settings.SEND_UNCONFIRMED_AFTER_MINUTES)
    return {
        **counts,
        "next_at": since + wait if since else None,
        "wait_minutes": settings.SEND_UNCONFIRMED_AFTER_MINUTES,
    }


def deliveries_unconfirmed_resend(*, send: Send, user, expected: int | None = None) -> int:
    """Send again, once, the rows of ``send`` that SES never confirmed (``deliveries_unconfirmed``); return how
    many were queued.

    In one transaction, with the send locked: the rows go back to ``queued`` as if never attempted, marked
    ``resent_at`` so that they are never offered again; a finished send is reopened (``sent`` -> ``sending``) so
    workers finish it, and a paused one stays paused, its rows waiting for the resume; a ``SendEvent`` records who
    did it and how many rows; workers are woken after commit. ``expected``, when given, is the number the person
    confirmed: a different number now (rows settled or newly qualifying meanwhile) is refused.

    Raises UnconfirmedResendError, changing nothing, for a draft, scheduled or cancelled send, when no row
    qualifies, and when the number is not the one expected; CampaignForbidden when ``user`` may not send it.
    """
    actor_require(may_send, page=send.page, user=user, action="send again")
    now = timezone.now()
    with transaction.atomic():
        locked = Send.objects.select_for_update().get(pk=send.pk)
        if locked.state in (SendState.DRAFT, SendState.SCHEDULED, SendState.CANCELLED):
            raise UnconfirmedResendError(f"This send is {locked.get_state_display().lower()}; nothing was sent again.")
        # One UPDATE with the whole condition: a row an SES event settles meanwhile no longer matches it.
        rows = deliveries_unconfirmed(send=locked, now=now).update(
            state=DeliveryState.QUEUED,
            attempted_at=None,
            claimed_by="",
            lease_expires_at=None,
            not_before=None,
            finished_at=None,
            reason=RESENT_REASON,
            resent_at=now,
        )
        if not rows:
            raise UnconfirmedResendError(
                "No recipient of this send is waiting to be sent again: rows in doubt qualify "
                f"{settings.SEND_UNCONFIRMED_AFTER_MINUTES} minutes after their SES call if SES has reported "
                "nothing about them, and only once."
            )
        if expected is not None and rows != expected:
            raise UnconfirmedResendError(
                f"{rows:,} recipients qualify now, not the {expected:,} you confirmed; nothing was sent again. "
                "Check the numbers below and confirm again."
            )
        send_counts_forget(send_ids=[locked.pk])
        if locked.state == SendState.SENT:
            locked.state, locked.finished_at = SendState.SENDING, None
            locked.save(update_fields=["state", "finished_at"])
        SendEvent.objects.create(
            send=locked,
            action=SendAction.UNCONFIRMED_RESENT,
            user=user,
            rows=rows,
            detail=f"In doubt for over {settings.SEND_UNCONFIRMED_AFTER_MINUTES} minutes with no SES event about them.",
            created_at=now,
        )
        campaign_action_log(
            instance=locked, action="campaigns.send_unconfirmed_resend", user=user, data={"recipients": rows}
        )
        if locked.state == SendState.SENDING:
            send_id = locked.pk
            transaction.on_commit(lambda: sending._wake_workers(send_id))
    send.refresh_from_db()
    return rows
