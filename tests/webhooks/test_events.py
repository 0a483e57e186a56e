"""Each event type, emitted by the real service that makes the change, in the transaction of that change."""

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.authoring.demo_content import demo_campaign
from campaigns.feedback.events import feedback_process, feedback_receive
from campaigns.models import Delivery, DeliveryState
from campaigns.sending.services import send_create, send_finish_if_done, send_pause, send_resume, send_start
from subscribers.links import unsubscribe_url
from subscribers.models import ConsentAction, ConsentEvent, ConsentSource, ErasureSource, Topic
from subscribers.services import (
    subscriber_get_or_create,
    subscriber_withdraw_all,
    subscription_give,
    subscription_withdraw,
)
from subscribers.services.consent import ConsentEvidence, subscriptions_add_with_evidence
from subscribers.services.erasure import subscriber_erase
from tests.campaigns import ses_events as ses
from tests.factories import ConfirmedSubscriberFactory, SubscriptionFactory
from webhooks.models import EVENT_TYPES, WebhookEvent
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def everything_wanted():
    """An endpoint that wants every event, so that every event is recorded."""
    webhook_endpoint_create(user=None, name="All", url="https://hooks.example/in", events=list(EVENT_TYPES))


def _events(type: str) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(type=type).order_by("pk"))


def test_subscriber_created_from_subscriber_get_or_create_once():
    ada = subscriber_get_or_create(email="ada@mail.example")
    subscriber_get_or_create(email="ada@mail.example")

    [event] = _events("subscriber.created")
    assert event.data == {"subscriber": str(ada.public_id)}
    assert event.ordering_key == str(ada.public_id)


def test_subscription_confirmed_from_subscription_give_with_the_topic_slug():
    ada = ConfirmedSubscriberFactory()
    general = Topic.objects.get(is_default=True)

    subscription = subscription_give(subscriber=ada, topic=general, source=ConsentSource.PREFERENCE_CENTRE, wording="x")

    [event] = _events("subscription.confirmed")
    assert event.data == {
        "subscriber": str(ada.public_id),
        "subscription": str(subscription.public_id),
        "topic": general.slug,
    }


def test_subscription_confirmed_from_subscribing_on_consent_evidence_given_elsewhere():
    # The API's and a shop's way in: consent given at the shop's checkout, with its wording and date
    general = Topic.objects.get(is_default=True)

    outcome = subscriptions_add_with_evidence(
        email="ada@mail.example",
        topics=[general],
        evidence=ConsentEvidence(source="checkout", date=timezone.now(), wording="Email me offers"),
        source=ConsentSource.API,
    )

    [event] = _events("subscription.confirmed")
    subscription = outcome.subscriber.subscriptions.get()
    assert event.data == {
        "subscriber": str(outcome.subscriber.public_id),
        "subscription": str(subscription.public_id),
        "topic": general.slug,
    }
    assert [e.type for e in WebhookEvent.objects.order_by("pk")] == ["subscriber.created", "subscription.confirmed"]


def test_subscription_withdrawn_from_subscription_withdraw_once_however_often_it_is_called():
    subscription = SubscriptionFactory()

    subscription_withdraw(subscription=subscription, source=ConsentSource.ONE_CLICK)
    subscription_withdraw(subscription=subscription, source=ConsentSource.ONE_CLICK)

    [event] = _events("subscription.withdrawn")
    assert event.data["subscription"] == str(subscription.public_id)


def test_subscription_withdrawn_from_a_one_click_post_with_its_consent_event():
    # An endpoint wants withdrawals (the fixture's): the one-click route takes the transaction that writes its event
    subscription = SubscriptionFactory()
    path = unsubscribe_url(subscription=subscription).split("://", 1)[1].split("/", 1)[1]

    responses = [Client().post(f"/{path}", {"List-Unsubscribe": "One-Click"}) for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    [event] = _events("subscription.withdrawn")
    assert event.data == {
        "subscriber": str(subscription.subscriber.public_id),
        "subscription": str(subscription.public_id),
        "topic": subscription.topic.slug,
    }
    assert event.deliveries.count() == 1
    [consent] = ConsentEvent.objects.filter(subscriber=subscription.subscriber, action=ConsentAction.WITHDRAWN)
    assert (consent.source, consent.detail) == (ConsentSource.ONE_CLICK, "one-click")


def test_suppression_added_from_withdrawing_everything_with_scope_and_reason():
    subscription = SubscriptionFactory()

    subscriber_withdraw_all(subscriber=subscription.subscriber, source=ConsentSource.ONE_CLICK)

    [event] = _events("suppression.added")
    assert event.data == {
        "subscriber": str(subscription.subscriber.public_id),
        "scope": "marketing",
        "reason": "unsubscribed",
    }


def test_subscriber_erased_from_the_erasure_and_its_tombstone_is_not_announced_as_a_suppression():
    ada = ConfirmedSubscriberFactory()
    public_id = str(ada.public_id)

    subscriber_erase(subscriber=ada, source=ErasureSource.STAFF)

    [event] = _events("subscriber.erased")
    assert event.data == {"subscriber": public_id}
    assert event.personal == {} and event.subscriber is None
    assert _events("suppression.added") == []


@pytest.fixture
def started_send(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    page = demo_campaign()
    for topic in page.topics.all():
        SubscriptionFactory(topic=topic)
    return send_start(send=send_create(page=page))


def test_send_started_paused_and_finished_from_the_send_services_ordered_by_the_send(started_send):
    send = started_send
    send_pause(send=send, user=None, reason="Reputation guard")
    send_resume(send=send, user=None)
    Delivery.objects.filter(send=send).update(state=DeliveryState.SENT, finished_at=timezone.now())
    assert send_finish_if_done(send_id=send.pk)

    started, paused, finished = _events("send.started"), _events("send.paused"), _events("send.finished")
    assert [e.data for e in started] == [{"send": send.pk, "campaign": send.page_id, "total": send.total}]
    assert [e.data for e in paused] == [{"send": send.pk, "campaign": send.page_id, "by": "platform"}]
    assert [e.data for e in finished] == [{"send": send.pk, "campaign": send.page_id, "state": "sent"}]
    assert {e.ordering_key for e in started + paused + finished} == {f"send:{send.pk}"}


def test_delivery_bounced_and_complained_from_ses_feedback_processing(started_send):
    row = Delivery.objects.filter(send=started_send).select_related("subscriber").first()
    Delivery.objects.filter(pk=row.pk).update(state=DeliveryState.SENT, ses_message_id="0100-test-message")
    row.refresh_from_db()
    email = row.subscriber.email
    message = ses.mail(message_id=row.ses_message_id, to=[email], delivery_id=row.pk, send_id=row.send_id)

    for event in (
        ses.hard_bounce_of(row),
        ses.complaint(mail=message, recipients=[row.subscriber.email], feedback_type="abuse"),
    ):
        feedback_process(event_id=feedback_receive(sns_message=ses.sns_notification(event)).pk)

    [bounced] = _events("delivery.bounced")
    [complained] = _events("delivery.complained")
    public_id = str(row.subscriber.public_id)
    assert bounced.data == {"subscriber": public_id, "send": row.send_id, "bounce_type": "permanent"}
    assert complained.data == {"subscriber": public_id, "send": row.send_id, "feedback_type": "abuse"}
    assert row.subscriber.email not in str(bounced.data) + str(complained.data)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_event_about_a_person_waits_for_an_overlapping_transaction_about_them_so_ids_follow_commit_order(
    endpoint_for,
):
    import threading

    from django.db import connection, transaction

    from subscribers.services import subscriber_get_or_create
    from webhooks.publishing import webhook_event_publish

    endpoint_for(events=["suppression.added"])
    ada = subscriber_get_or_create(email="ada@mail.example")
    second_published = threading.Event()

    def second_change():
        try:
            with transaction.atomic():
                webhook_event_publish(type="suppression.added", data={"n": 2}, subscriber=ada)
                second_published.set()
        finally:
            connection.close()

    # Given a first transaction about Ada that has published its event and not yet committed
    with transaction.atomic():
        webhook_event_publish(type="suppression.added", data={"n": 1}, subscriber=ada)
        other = threading.Thread(target=second_change)
        other.start()
        # Then a second transaction about her cannot take its event id meanwhile
        assert not second_published.wait(timeout=1.5)
    other.join(timeout=10)

    assert second_published.is_set()
    assert [e.data["n"] for e in WebhookEvent.objects.filter(data__has_key="n").order_by("pk")] == [1, 2]
