"""Settling rows in doubt: which rows SES never confirmed, sending them again once, through the ledger, recorded;
the admin's form for it, and the Send page's warning when SES does not publish Send events.

Rows become ``unknown`` the honest way wherever it matters: an SES endpoint in front of moto's loses the answer
to chosen calls after SES accepted them (``tests/faulty_ses.py``). No clock is faked: "an hour passes" moves the
ledger's timestamps back instead, in a step that says so.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import boto3
import pytest
from django.contrib.auth.models import Group
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from campaigns.feedback.events import feedback_process, feedback_receive
from campaigns.models import Delivery, DeliveryState, Send, SendAction, SendEvent, SendState
from campaigns.sending.in_doubt import (
    RESENT_REASON,
    UnconfirmedResendError,
    deliveries_unconfirmed,
    deliveries_unconfirmed_resend,
    send_in_doubt_summary,
)
from campaigns.sending.services import send_create, send_pause, send_start
from campaigns.sending.worker import send_work
from mailer import ses
from subscribers.models import SubscriptionStatus, Topic, User
from tests.campaigns import ses_events
from tests.factories import EDITORS, SubscriptionFactory
from tests.faulty_ses import FaultPlan, FaultySes

pytestmark = pytest.mark.django_db

EDITOR_EMAIL = "editor@larkspur-lune.example"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.SES_MAX_SEND_RATE = 1000


@dataclass
class LostAnswers(FaultPlan):
    """Only loses answers: SES accepts the calls numbered in ``drop_calls``, and their answers never arrive."""

    def fault_for(self) -> str | None:
        with self.lock:
            self.counts["calls"] += 1
            number = self.counts["calls"]
        return "drop" if number in self.drop_calls else None


def work_through_lost_answers(*, send: Send, ses_endpoint: str, settings, lost: set[int]) -> None:
    """Work the send to the end while SES's answers to the calls numbered ``lost`` are lost."""
    plan = LostAnswers(drop_calls=lost)
    with FaultySes(ses_endpoint, plan) as faulty:
        settings.SES_ENDPOINT_URL = faulty
        ses._cached_client.cache_clear()
        try:
            send_work(send_id=send.pk)
        finally:
            settings.SES_ENDPOINT_URL = ses_endpoint
            ses._cached_client.cache_clear()
    assert plan.counts["dropped"] == len(lost)


def sent_with_lost_answers(campaign, *, people: int, lost: set[int], ses_endpoint: str, settings) -> Send:
    general = Topic.objects.get(is_default=True)
    for _ in range(people):
        SubscriptionFactory(topic=general)
    send = send_start(send=send_create(page=campaign))
    work_through_lost_answers(send=send, ses_endpoint=ses_endpoint, settings=settings, lost=lost)
    send.refresh_from_db()
    return send


def time_passes(rows, *, minutes: int) -> None:
    """No clock is faked: the rows' SES calls (and everything after them) are moved ``minutes`` into the past."""
    shift = timedelta(minutes=minutes)
    Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(
        attempted_at=F("attempted_at") - shift, finished_at=F("finished_at") - shift
    )


def unknown_rows(send: Send) -> list[Delivery]:
    return list(send.deliveries.filter(state=DeliveryState.UNKNOWN).select_related("subscriber").order_by("pk"))


def ledger(send: Send) -> dict[int, tuple]:
    fields = ("state", "attempted_at", "finished_at", "reason", "ses_message_id", "resent_at", "claimed_by")
    return {row["pk"]: tuple(row[f] for f in fields) for row in send.deliveries.values("pk", *fields)}


def ses_reports(event: dict) -> None:
    """SES's event arrives through SNS and is processed, as the hook and the feedback task do it."""
    stored = feedback_receive(sns_message=ses_events.sns_notification(event))
    assert stored is not None
    feedback_process(event_id=stored.pk)


def mail_of(row: Delivery, *, message_id: str) -> dict:
    return ses_events.mail(message_id=message_id, to=[row.subscriber.email], delivery_id=row.pk, send_id=row.send_id)


def text(response) -> str:
    """The page's HTML with every run of white space as one space, as a reader sees the words."""
    return " ".join(response.content.decode().split())


def staff(email: str = EDITOR_EMAIL) -> User:
    return User.objects.create_superuser(email=email, password="unused-in-this-test", first_name="Edith")


# --- Which rows qualify ---------------------------------------------------------------------------------------------


def test_only_rows_in_doubt_with_no_ses_event_after_the_wait_are_sent_again(campaign, ses_endpoint, settings):
    # Given ten recipients, one of whom unsubscribes before the worker reaches her (skipped), and an SES endpoint
    # that loses its answer to six of the nine calls (those rows end in doubt; the other three are sent)
    general = Topic.objects.get(is_default=True)
    subscriptions = [SubscriptionFactory(topic=general) for _ in range(10)]
    send = send_start(send=send_create(page=campaign))
    subscriptions[-1].status = SubscriptionStatus.UNSUBSCRIBED
    subscriptions[-1].save(update_fields=["status"])
    work_through_lost_answers(send=send, ses_endpoint=ses_endpoint, settings=settings, lost={1, 3, 4, 6, 8, 9})
    assert Counter(send.deliveries.values_list("state", flat=True)) == {"unknown": 6, "sent": 3, "skipped": 1}
    settled_by_send, bounced, rejected, recent, forgotten_a, forgotten_b = unknown_rows(send)

    # Given SES then reports a Send event for one, a (soft) bounce for another and a Reject for a third
    ses_reports(ses_events.send_event(mail=mail_of(settled_by_send, message_id="0100-send")))
    ses_reports(
        ses_events.bounce(
            mail=mail_of(bounced, message_id="0100-bounce"),
            bounce_type="Transient",
            sub_type="MailboxFull",
            recipients=[ses_events.bounced_recipient(bounced.subscriber.email, status="4.2.2")],
        )
    )
    ses_reports(ses_events.reject(mail=mail_of(rejected, message_id="0100-reject")))
    # And an hour passes for every row but one, which stays just gone into doubt
    time_passes([r for r in send.deliveries.all() if r.pk != recent.pk], minutes=61)
    before = ledger(send)

    # When staff send again the rows SES never confirmed
    with pytest.raises(UnconfirmedResendError):
        deliveries_unconfirmed_resend(send=send, user=None, expected=3)  # a number other than what qualifies
    resent = deliveries_unconfirmed_resend(send=send, user=staff())

    # Then exactly the two rows with no SES event, in doubt for over an hour, are queued again, as never attempted
    assert resent == 2
    after = ledger(send)
    changed = {pk for pk in before if before[pk] != after[pk]}
    assert changed == {forgotten_a.pk, forgotten_b.pk}
    for row in Delivery.objects.filter(pk__in=changed):
        assert (row.state, row.attempted_at, row.finished_at, row.claimed_by) == (DeliveryState.QUEUED, None, None, "")
        assert (row.lease_expires_at, row.not_before, row.reason) == (None, None, RESENT_REASON)
        assert row.resent_at is not None
    # And the rows settled or reported by SES, the recent one, and those sent, failed or skipped are untouched
    assert after[settled_by_send.pk][0] == DeliveryState.SENT
    assert after[bounced.pk][0] == DeliveryState.UNKNOWN
    assert after[rejected.pk][0] == DeliveryState.FAILED
    assert after[recent.pk][0] == DeliveryState.UNKNOWN


def test_the_wait_comes_from_the_setting(campaign, ses_endpoint, settings):
    # Given a send whose lost answers were twenty minutes ago
    send = sent_with_lost_answers(campaign, people=3, lost={2}, ses_endpoint=ses_endpoint, settings=settings)
    (row,) = unknown_rows(send)
    time_passes([row], minutes=20)
    row.refresh_from_db()

    # Then with the default wait of an hour it is not offered yet, and the summary says when it will be
    assert settings.SEND_UNCONFIRMED_AFTER_MINUTES == 60
    assert not deliveries_unconfirmed(send=send).exists()
    summary = send_in_doubt_summary(send=send)
    assert (summary["unconfirmed"], summary["waiting"]) == (0, 1)
    assert summary["next_at"] == row.attempted_at + timedelta(minutes=60)
    with pytest.raises(UnconfirmedResendError, match="60 minutes"):
        deliveries_unconfirmed_resend(send=send, user=None)

    # When the wait is set to fifteen minutes, it qualifies
    settings.SEND_UNCONFIRMED_AFTER_MINUTES = 15
    assert list(deliveries_unconfirmed(send=send)) == [row]
    assert send_in_doubt_summary(send=send)["unconfirmed"] == 1
    assert deliveries_unconfirmed_resend(send=send, user=None) == 1


# --- Through the ledger, once, recorded -------------------------------------------------------------------------------


def test_rows_sent_again_go_through_the_ledger_to_ses_and_the_send_ends_sent(
    campaign, ses_endpoint, settings, outbox, django_capture_on_commit_callbacks
):
    # Given six recipients, two of whose answers were lost an hour ago (SES did accept those two messages)
    send = sent_with_lost_answers(campaign, people=6, lost={2, 5}, ses_endpoint=ses_endpoint, settings=settings)
    assert send.state == SendState.SENT
    in_doubt = unknown_rows(send)
    time_passes(in_doubt, minutes=61)
    assert len(outbox.all()) == 6
    editor = staff()

    # When staff send them again
    with django_capture_on_commit_callbacks(execute=False) as wake_ups:
        resent = deliveries_unconfirmed_resend(send=send, user=editor)

    # Then the finished send is open again, workers are woken after commit, and the action is recorded
    assert resent == 2
    send.refresh_from_db()
    assert (send.state, send.finished_at) == (SendState.SENDING, None)
    assert len(wake_ups) == 1
    event = SendEvent.objects.get(send=send)
    assert (event.action, event.user, event.rows) == (SendAction.UNCONFIRMED_RESENT, editor, 2)

    # When a worker takes them up
    send_work(send_id=send.pk)

    # Then SES receives exactly one more message for each of them, and the send ends sent
    received = Counter(address for message in outbox.all() for address in message.to)
    assert len(outbox.all()) == 8
    assert {row.subscriber.email for row in in_doubt} == {a for a, n in received.items() if n == 2}
    send.refresh_from_db()
    assert send.state == SendState.SENT and send.finished_at is not None
    for row in Delivery.objects.filter(pk__in=[r.pk for r in in_doubt]):
        assert row.state == DeliveryState.SENT and row.ses_message_id and row.attempted_at and row.resent_at


def test_rows_are_sent_again_only_once(campaign, ses_endpoint, settings):
    # Given a send where one answer was lost an hour ago, and staff sent that row again
    send = sent_with_lost_answers(campaign, people=4, lost={2}, ses_endpoint=ses_endpoint, settings=settings)
    time_passes(unknown_rows(send), minutes=61)
    assert deliveries_unconfirmed_resend(send=send, user=None) == 1

    # When the answer to that second attempt is lost too, and another hour passes
    work_through_lost_answers(send=send, ses_endpoint=ses_endpoint, settings=settings, lost={1})
    (again,) = unknown_rows(send)
    time_passes([again], minutes=61)

    # Then it is not offered a second time: the summary says why, and the action finds nothing
    assert not deliveries_unconfirmed(send=send).exists()
    assert send_in_doubt_summary(send=send) == {
        "unconfirmed": 0,
        "waiting": 0,
        "resent_before": 1,
        "with_event": 0,
        "next_at": None,
        "wait_minutes": 60,
    }
    with pytest.raises(UnconfirmedResendError, match="only once"):
        deliveries_unconfirmed_resend(send=send, user=None)
    assert SendEvent.objects.filter(send=send).count() == 1


def test_a_paused_send_stays_paused_and_its_rows_wait_for_the_resume(
    campaign, ses_endpoint, settings, django_capture_on_commit_callbacks
):
    # Given a send still going, with rows in doubt for an hour, which staff then pause
    general = Topic.objects.get(is_default=True)
    for _ in range(3):
        SubscriptionFactory(topic=general)
    send = send_start(send=send_create(page=campaign))
    rows = list(send.deliveries.order_by("pk"))
    # (set directly: two rows whose SES calls were an hour ago and whose outcome is unknown)
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:2]]).update(
        state=DeliveryState.UNKNOWN, attempted_at=timezone.now() - timedelta(minutes=61), finished_at=timezone.now()
    )
    send_pause(send=send)

    # When staff send them again
    with django_capture_on_commit_callbacks(execute=False) as wake_ups:
        assert deliveries_unconfirmed_resend(send=send, user=None) == 2

    # Then the send stays paused, nobody is woken, and the rows are queued for when it resumes
    send.refresh_from_db()
    assert send.state == SendState.PAUSED and not wake_ups
    assert Counter(send.deliveries.values_list("state", flat=True)) == {DeliveryState.QUEUED: 3}


@pytest.mark.parametrize("state", [SendState.DRAFT, SendState.SCHEDULED, SendState.CANCELLED])
def test_a_send_that_is_not_going_or_finished_is_refused(campaign, state):
    # Given a send in that state with a row in doubt for an hour (set directly)
    SubscriptionFactory(topic=Topic.objects.get(is_default=True))
    send = send_start(send=send_create(page=campaign))
    Delivery.objects.filter(send=send).update(
        state=DeliveryState.UNKNOWN, attempted_at=timezone.now() - timedelta(minutes=61), finished_at=timezone.now()
    )
    Send.objects.filter(pk=send.pk).update(state=state)

    # Then nothing is sent again, and the refusal names the state
    with pytest.raises(UnconfirmedResendError, match=f"This send is {state.label.lower()}"):
        deliveries_unconfirmed_resend(send=send, user=None)
    assert send.deliveries.get().state == DeliveryState.UNKNOWN
    assert not SendEvent.objects.exists()


# --- The progress page and its form ---------------------------------------------------------------------------------


@pytest.fixture
def send_in_doubt(campaign):
    """A finished send of five: two rows in doubt for over an hour, one for a minute, two sent (set directly)."""
    general = Topic.objects.get(is_default=True)
    for _ in range(5):
        SubscriptionFactory(topic=general)
    send = send_start(send=send_create(page=campaign))
    rows = list(send.deliveries.order_by("pk"))
    now = timezone.now()
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:2]]).update(
        state=DeliveryState.UNKNOWN, attempted_at=now - timedelta(minutes=90), finished_at=now - timedelta(minutes=88)
    )
    Delivery.objects.filter(pk=rows[2].pk).update(
        state=DeliveryState.UNKNOWN, attempted_at=now - timedelta(minutes=1), finished_at=now
    )
    Delivery.objects.filter(pk__in=[r.pk for r in rows[3:]]).update(
        state=DeliveryState.SENT, attempted_at=now, finished_at=now, ses_message_id="0100-accepted"
    )
    Send.objects.filter(pk=send.pk).update(state=SendState.SENT, finished_at=now)
    send.refresh_from_db()
    return send


def progress_url(send: Send) -> str:
    return reverse("campaigns_admin:send_progress", args=[send.pk])


def resend_url(send: Send) -> str:
    return reverse("campaigns_admin:send_unconfirmed_resend", args=[send.pk])


def test_progress_page_explains_rows_in_doubt_and_offers_to_send_the_unconfirmed_again(client, send_in_doubt):
    client.force_login(staff())

    page = text(client.get(progress_url(send_in_doubt)))

    assert "we do not know whether SES accepted the message" in page
    assert 'data-unconfirmed="2"' in page
    assert 'type="checkbox" name="understood"' in page and "required" in page
    assert "I understand that some of these 2 people may already have received this email" in page
    assert "Send again to the 2 recipients SES never confirmed" in page
    assert f'action="{resend_url(send_in_doubt)}"' in page
    # The row in doubt for a minute: when it will qualify
    waiting = send_in_doubt.deliveries.get(state="unknown", attempted_at__gt=timezone.now() - timedelta(minutes=5))
    qualifies = timezone.localtime(waiting.attempted_at + timedelta(minutes=60))
    assert "1 more went into doubt less than 60 minutes ago" in page
    assert qualifies.strftime("%H:%M") in page


def test_progress_page_says_when_rows_in_doubt_will_qualify_and_offers_nothing_before(client, campaign):
    # Given a send whose only row in doubt went into doubt a minute ago (set directly)
    SubscriptionFactory(topic=Topic.objects.get(is_default=True))
    send = send_start(send=send_create(page=campaign))
    send.deliveries.update(state=DeliveryState.UNKNOWN, attempted_at=timezone.now(), finished_at=timezone.now())
    client.force_login(staff())

    page = text(client.get(progress_url(send)))

    assert "In doubt (1)" in page
    assert "went into doubt less than 60 minutes ago" in page and "can be sent again from" in page
    assert "data-unconfirmed-resend" not in page and "Send again to" not in page


def test_progress_page_of_a_cancelled_send_offers_nothing_for_its_rows_in_doubt(client, send_in_doubt):
    Send.objects.filter(pk=send_in_doubt.pk).update(state=SendState.CANCELLED)
    client.force_login(staff())

    page = text(client.get(progress_url(send_in_doubt)))

    assert "This send is cancelled, so its recipients in doubt are not offered to be sent again." in page
    assert "data-unconfirmed-resend" not in page and "can be sent again from" not in page


def test_sending_again_from_the_progress_page_records_who_did_it_and_shows_it_in_the_history(
    client, send_in_doubt, django_capture_on_commit_callbacks
):
    editor = staff()
    client.force_login(editor)

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(resend_url(send_in_doubt), {"understood": "on", "expected": "2"}, follow=True)

    assert response.redirect_chain[-1][0] == progress_url(send_in_doubt)
    assert "2 recipients queued to be sent again." in text(response)
    assert Counter(send_in_doubt.deliveries.values_list("state", flat=True)) == {"queued": 2, "unknown": 1, "sent": 2}
    event = SendEvent.objects.get(send=send_in_doubt)
    assert (event.user, event.rows, event.action) == (editor, 2, SendAction.UNCONFIRMED_RESENT)
    page = text(response)
    assert 'data-history-action="unconfirmed_resent"' in page
    assert "Edith" in page and "Sent again to recipients SES never confirmed (2 recipients)" in page


def test_sending_again_is_refused_without_the_tick_or_with_a_stale_number(client, send_in_doubt):
    client.force_login(staff())
    before = ledger(send_in_doubt)

    unticked = text(client.post(resend_url(send_in_doubt), {"expected": "2"}, follow=True))
    stale = client.post(resend_url(send_in_doubt), {"understood": "on", "expected": "5"}, follow=True)

    assert "Nothing was sent again. Tick the box" in unticked
    assert "2 recipients qualify now, not the 5 you confirmed" in text(stale)
    assert ledger(send_in_doubt) == before
    assert not SendEvent.objects.exists()


def test_sending_again_needs_the_right_to_send_the_campaign(client, send_in_doubt):
    # Given an editor who may edit the campaign (and watch its sends) but not publish it
    editor = User.objects.create_user(email="writer@larkspur-lune.example", password="unused-in-this-test")
    editors = Group.objects.get(name=EDITORS)  # the role the migrations make: may edit, not publish
    editor.groups.add(editors)
    client.force_login(editor)
    before = ledger(send_in_doubt)

    # Then the page explains but offers no form, and a forged POST is refused and changes nothing
    page = text(client.get(progress_url(send_in_doubt)))
    assert "Someone who may send this campaign can send them again." in page
    assert "data-unconfirmed-resend" not in page
    response = client.post(resend_url(send_in_doubt), {"understood": "on", "expected": "2"})
    assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")
    assert ledger(send_in_doubt) == before
    assert not SendEvent.objects.exists()


# --- The Send page, when SES does not publish Send events ----------------------------------------------------------


def send_page_url(campaign) -> str:
    return reverse("campaigns_admin:send", args=[campaign.pk])


@pytest.fixture
def configuration_set_without_events(ses_endpoint, settings) -> str:
    """A configuration set in the local SES with no event destination, and the settings naming it."""
    client = boto3.client(
        "sesv2",
        region_name=settings.SES_REGION,
        endpoint_url=ses_endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    client.create_configuration_set(ConfigurationSetName="no-events")
    settings.SES_CONFIGURATION_SET = "no-events"
    return "no-events"


def test_send_page_is_quiet_when_send_events_are_published(client, campaign):
    SubscriptionFactory(topic=Topic.objects.get(is_default=True))
    client.force_login(staff())

    page = text(client.get(send_page_url(campaign)))

    assert "data-send-events-warning" not in page


def test_send_page_warns_when_send_events_are_not_published_and_send_now_warns_but_sends(
    client, campaign, configuration_set_without_events, django_capture_on_commit_callbacks
):
    SubscriptionFactory(topic=Topic.objects.get(is_default=True))
    client.force_login(staff())

    page = client.get(send_page_url(campaign))
    shown_text = text(page)
    assert "data-send-events-warning" in shown_text
    assert "The configuration set no-events has no enabled event destination for Send events." in shown_text
    assert "cannot be settled automatically" in shown_text

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            send_page_url(campaign), {"action": "send_now", "seen_send_id": page.context["seen_send_id"]}, follow=True
        )

    shown = [(m.level_tag, str(m).strip()) for m in response.context["messages"]]
    assert ("success", "Sending to 1 subscribers.") in shown
    assert any(level == "warning" and "no enabled event destination for Send events" in m for level, m in shown)
    assert Send.objects.get().state == SendState.SENDING


def test_a_late_send_event_for_a_row_sent_again_settles_it_before_its_second_attempt(
    campaign, ses_endpoint, outbox, settings
):
    # Given a row in doubt for an hour that staff sent again, its second attempt not yet begun
    send = sent_with_lost_answers(campaign, people=3, lost={2}, ses_endpoint=ses_endpoint, settings=settings)
    (row,) = unknown_rows(send)
    time_passes([row], minutes=61)
    assert deliveries_unconfirmed_resend(send=send, user=None) == 1
    before = Counter(a for m in outbox.all() for a in m.to)[row.subscriber.email]

    # When SES's Send event for the first attempt arrives after all
    ses_reports(ses_events.send_event(mail=mail_of(row, message_id="late-first-attempt")))
    send_work(send_id=send.pk)

    # Then the row is sent (by the first attempt), and no second email leaves
    row.refresh_from_db()
    assert (row.state, row.ses_message_id) == (DeliveryState.SENT, "late-first-attempt")
    assert Counter(a for m in outbox.all() for a in m.to)[row.subscriber.email] == before == 1
    send.refresh_from_db()
    assert send.state == SendState.SENT
