"""SES events change who receives the next campaign: bounces, complaints, deliveries, the reputation guard."""

from collections import Counter

import pytest
from django.test import TestCase

from campaigns.feedback.events import FeedbackError, feedback_process, feedback_receive
from campaigns.feedback.reputation import REASON_PREFIX, reputation_guard
from campaigns.models import BounceType, Delivery, DeliveryState, FeedbackEvent, Send, SendState
from campaigns.sending.services import delivery_claim_batch, send_create, send_start
from campaigns.sending.worker import send_work
from subscribers.addresses import address_hmac
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
)
from tests.campaigns import ses_events as ses
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.SES_MAX_SEND_RATE = 1000
    settings.REPUTATION_CHECK_SECONDS = 0


@pytest.fixture
def sent(campaign, outbox):
    """A send to five subscribers, worked to the end: every row accepted by the SES server."""
    people = [SubscriptionFactory() for _ in range(5)]
    send = send_start(send=send_create(page=campaign))
    send_work(send_id=send.pk)
    rows = {d.subscriber.email: d for d in Delivery.objects.filter(send=send).select_related("subscriber")}
    assert len(rows) == 5 and all(r.state == DeliveryState.SENT for r in rows.values())
    return send, [p.subscriber.email for p in people], rows


def receive_and_process(event: dict, *, message_id: str | None = None) -> FeedbackEvent | None:
    stored = feedback_receive(sns_message=ses.sns_notification(event, message_id=message_id))
    if stored:
        # The test's transaction never commits: run what feedback_process leaves for after its commit (the
        # reputation guard's check).
        with TestCase.captureOnCommitCallbacks(execute=True):
            feedback_process(event_id=stored.pk)
    return stored


def mail_of(row: Delivery) -> dict:
    return ses.mail(message_id=row.ses_message_id, to=[row.subscriber.email], delivery_id=row.pk, send_id=row.send_id)


def suppressed(email: str) -> dict[str, str]:
    return dict(Suppression.objects.filter(address_hmac=address_hmac(email)).values_list("scope", "reason"))


def test_a_bounce_naming_three_recipients_of_which_two_failed_for_good_suppresses_exactly_those_two(sent):
    _, emails, rows = sent
    a, b, c = emails[:3]
    event = ses.bounce(
        mail=ses.mail(message_id=rows[a].ses_message_id, to=[a, b, c]),
        bounce_type="Permanent",
        sub_type="General",
        recipients=[
            ses.bounced_recipient(a),
            ses.bounced_recipient(b, status="5.1.1"),
            ses.bounced_recipient(c, status="4.4.7", action="delayed"),
        ],
    )

    receive_and_process(event)

    assert suppressed(a) == suppressed(b) == {SuppressionScope.ALL: SuppressionReason.BOUNCE}
    assert suppressed(c) == {}, "a 4.x.x recipient is a soft bounce"
    assert suppressed(emails[3]) == {}
    events = ConsentEvent.objects.filter(action=ConsentAction.SUPPRESSED, source=ConsentSource.SES_FEEDBACK)
    assert sorted(e.subscriber.email for e in events) == sorted([a, b])


def test_a_hard_bounce_is_recorded_on_the_row_and_the_address_gets_nothing_from_the_next_send(sent, campaign):
    send, emails, rows = sent
    row = rows[emails[0]]
    event = ses.bounce(
        mail=mail_of(row), bounce_type="Permanent", sub_type="NoEmail", recipients=[ses.bounced_recipient(emails[0])]
    )

    receive_and_process(event)

    row.refresh_from_db()
    assert (row.bounce_type, row.bounced_at is not None) == (BounceType.PERMANENT, True)
    Send.objects.filter(pk=send.pk).update(state=SendState.SENT)
    following = send_start(send=send_create(page=campaign))
    audience = set(Delivery.objects.filter(send=following).values_list("subscriber__email", flat=True))
    assert audience == set(emails[1:])


def test_a_bounce_reported_in_ascii_suppresses_an_address_held_with_an_internationalised_domain(campaign, outbox):
    zoe = SubscriptionFactory(subscriber__email="zoe@bücher.example").subscriber
    SubscriptionFactory(subscriber__email="ann@mail.example")
    send = send_start(send=send_create(page=campaign))
    send_work(send_id=send.pk)
    row = Delivery.objects.get(send=send, subscriber=zoe)
    ascii_form = "zoe@xn--bcher-kva.example"  # how the message went out, and how SES names it
    event = ses.bounce(
        mail=ses.mail(message_id=row.ses_message_id, to=[ascii_form]),
        bounce_type="Permanent",
        sub_type="General",
        recipients=[ses.bounced_recipient(ascii_form)],
    )

    receive_and_process(event)

    bounced = {SuppressionScope.ALL: SuppressionReason.BOUNCE}
    assert suppressed("zoe@bücher.example") == suppressed(ascii_form) == bounced
    assert ConsentEvent.objects.filter(subscriber=zoe, source=ConsentSource.SES_FEEDBACK).exists()
    Send.objects.filter(pk=send.pk).update(state=SendState.SENT)
    following = send_start(send=send_create(page=campaign))
    assert list(Delivery.objects.filter(send=following).values_list("subscriber__email", flat=True)) == [
        "ann@mail.example"
    ]


def test_a_hard_bounce_skips_the_addresses_rows_still_queued_in_a_running_send(campaign, outbox):
    people = [SubscriptionFactory() for _ in range(3)]
    send = send_start(send=send_create(page=campaign))
    bounced = people[1].subscriber.email
    event = ses.bounce(
        mail=ses.mail(message_id="earlier-message", to=[bounced]),
        bounce_type="Permanent",
        sub_type="General",
        recipients=[ses.bounced_recipient(bounced)],
    )

    receive_and_process(event)
    send_work(send_id=send.pk)

    row = Delivery.objects.get(send=send, subscriber__email=bounced)
    assert (row.state, row.reason) == (DeliveryState.SKIPPED, "address bounced")
    assert bounced not in {a for m in outbox.all() for a in m.to}
    assert len(outbox.all()) == 2


def test_soft_bounces_are_recorded_and_the_limit_within_the_window_suppresses(sent, settings):
    settings.SOFT_BOUNCE_LIMIT = 3
    _, emails, rows = sent
    soft = emails[0]

    for number in range(3):
        event = ses.bounce(
            mail=mail_of(rows[soft]),
            bounce_type="Transient",
            sub_type="MailboxFull",
            recipients=[ses.bounced_recipient(soft, status="4.2.2")],
        )
        receive_and_process(event)
        expected = {} if number < 2 else {SuppressionScope.ALL: SuppressionReason.BOUNCE}
        assert suppressed(soft) == expected, f"after soft bounce {number + 1}"

    rows[soft].refresh_from_db()
    assert rows[soft].bounce_type == BounceType.TRANSIENT


def test_a_complaint_without_a_feedback_type_suppresses_and_withdraws_every_subscription(sent):
    _, emails, rows = sent
    who = emails[2]
    SubscriptionFactory(subscriber=rows[who].subscriber, topic=TopicFactory())

    receive_and_process(ses.complaint(mail=mail_of(rows[who]), recipients=[who]))

    assert suppressed(who) == {SuppressionScope.MARKETING: SuppressionReason.COMPLAINT}
    statuses = set(rows[who].subscriber.subscriptions.values_list("status", flat=True))
    assert statuses == {SubscriptionStatus.UNSUBSCRIBED}
    withdrawn = ConsentEvent.objects.filter(
        subscriber=rows[who].subscriber, action=ConsentAction.WITHDRAWN, source=ConsentSource.SES_FEEDBACK
    )
    assert withdrawn.count() == 2
    rows[who].refresh_from_db()
    assert rows[who].complained_at is not None


def test_the_same_sns_message_twice_changes_state_once(sent):
    _, emails, rows = sent
    event = ses.complaint(mail=mail_of(rows[emails[0]]), recipients=[emails[0]], feedback_type="abuse")

    first = receive_and_process(event, message_id="7f3c-one")
    second = receive_and_process(event, message_id="7f3c-one")

    assert first is not None and second is None
    assert FeedbackEvent.objects.count() == 1
    assert ConsentEvent.objects.filter(action=ConsentAction.SUPPRESSED).count() == 1


def test_the_same_ses_event_through_notifications_and_event_publishing_is_processed_once(sent):
    _, emails, rows = sent
    event = ses.complaint(mail=mail_of(rows[emails[0]]), recipients=[emails[0]], feedback_type="abuse")

    receive_and_process(event)
    receive_and_process(ses.as_identity_notification(event))

    assert FeedbackEvent.objects.count() == 1
    assert ConsentEvent.objects.filter(action=ConsentAction.SUPPRESSED).count() == 1


def test_processing_a_stored_event_twice_changes_state_once(sent):
    _, emails, rows = sent
    stored = feedback_receive(
        sns_message=ses.sns_notification(ses.complaint(mail=mail_of(rows[emails[0]]), recipients=[emails[0]]))
    )

    assert feedback_process(event_id=stored.pk) is True
    assert feedback_process(event_id=stored.pk) is False
    assert ConsentEvent.objects.filter(action=ConsentAction.SUPPRESSED).count() == 1


@pytest.mark.parametrize("kind", ["Send", "Delivery"])
def test_send_and_delivery_events_resolve_rows_in_doubt_by_their_tag(sent, kind):
    _, emails, rows = sent
    row = rows[emails[0]]
    Delivery.objects.filter(pk=row.pk).update(state=DeliveryState.UNKNOWN, ses_message_id="")
    mail = ses.mail(message_id="ses-id-from-the-event", to=[emails[0]], delivery_id=row.pk, send_id=row.send_id)

    receive_and_process(ses.send_event(mail=mail) if kind == "Send" else ses.delivery(mail=mail))

    row.refresh_from_db()
    assert (row.state, row.ses_message_id) == (DeliveryState.SENT, "ses-id-from-the-event")
    assert (row.delivered_at is not None) == (kind == "Delivery")


def test_a_reject_after_acceptance_marks_the_row_failed(sent):
    _, emails, rows = sent

    receive_and_process(ses.reject(mail=mail_of(rows[emails[1]])))

    rows[emails[1]].refresh_from_db()
    assert rows[emails[1]].state == DeliveryState.FAILED


def test_a_notification_that_carries_no_ses_event_is_refused_and_stores_nothing():
    with pytest.raises(FeedbackError):
        feedback_receive(sns_message=ses.sns_notification({"hello": "world"}))
    with pytest.raises(FeedbackError):
        feedback_receive(sns_message={**ses.sns_notification({}), "Message": "not json"})
    assert FeedbackEvent.objects.count() == 0


def test_the_reputation_guard_pauses_a_running_send_when_the_complaint_rate_is_crossed(sent, campaign, settings):
    settings.REPUTATION_MIN_SENT = 5
    settings.REPUTATION_COMPLAINT_LIMIT = 0.1  # one complaint in five sent is 20%
    first, emails, rows = sent
    Send.objects.filter(pk=first.pk).update(state=SendState.SENT)
    SubscriptionFactory()
    running = send_start(send=send_create(page=campaign))
    delivery_claim_batch(send_id=running.pk, worker_id="w", size=1)  # mid-send
    assert reputation_guard() == ""

    receive_and_process(ses.complaint(mail=mail_of(rows[emails[0]]), recipients=[emails[0]]))

    running.refresh_from_db()
    assert running.state == SendState.PAUSED
    assert running.pause_reason.startswith(REASON_PREFIX) and "complaint rate 20.00%" in running.pause_reason


def test_the_reputation_guard_does_not_judge_below_the_minimum_volume(sent, campaign, settings):
    settings.REPUTATION_MIN_SENT = 500
    _, emails, rows = sent
    for email in emails[:2]:
        receive_and_process(ses.complaint(mail=mail_of(rows[email]), recipients=[email]))

    assert reputation_guard() == ""
    assert Counter(Send.objects.values_list("state", flat=True)) == Counter({SendState.SENT: 1})
