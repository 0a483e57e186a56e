"""Retention: opt-ins never confirmed and raw SES events are removed when their time is up, nothing else."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.feedback.retention import feedback_payloads_purge
from campaigns.models import FeedbackEvent
from subscribers.models import ConsentAction, ConsentEvent, ConsentPurpose, ConsentSource, Subscriber, Subscription
from subscribers.models import SubscriptionStatus as Status
from subscribers.services.retention import pending_opt_ins_purge
from tests.factories import ConfirmedSubscriberFactory, SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db


def days_ago(days: int):
    return timezone.now() - timedelta(days=days)


def test_only_opt_ins_left_unconfirmed_past_the_limit_are_removed(settings):
    settings.RETENTION_PENDING_OPT_IN_DAYS = 30
    stale = SubscriptionFactory(status=Status.PENDING, requested_at=days_ago(31), subscriber=SubscriberFactory())
    ConsentEvent.objects.create(
        subscriber=stale.subscriber,
        purpose=ConsentPurpose.MARKETING,
        action=ConsentAction.REQUESTED,
        source=ConsentSource.PUBLIC_FORM,
        ip_truncated="192.0.2.0",
    )
    recent = SubscriptionFactory(status=Status.PENDING, requested_at=days_ago(29), subscriber=SubscriberFactory())
    confirmed_person = ConfirmedSubscriberFactory()
    kept_active = SubscriptionFactory(subscriber=confirmed_person)
    stale_of_confirmed = SubscriptionFactory(
        subscriber=confirmed_person, topic=TopicFactory(), status=Status.PENDING, requested_at=days_ago(40)
    )

    counts = pending_opt_ins_purge()

    assert counts == {"pending_subscriptions": 2, "subscribers": 1}
    assert not Subscriber.objects.filter(pk=stale.subscriber_id).exists()
    event = ConsentEvent.objects.get(action=ConsentAction.REQUESTED)
    assert (event.subscriber, event.ip_truncated) == (None, None), "the count stays, the person goes"
    assert set(Subscription.objects.values_list("pk", flat=True)) == {recent.pk, kept_active.pk}
    assert Subscriber.objects.filter(pk=confirmed_person.pk).exists()
    assert not Subscription.objects.filter(pk=stale_of_confirmed.pk).exists()


def test_raw_ses_events_are_emptied_after_the_limit(settings):
    settings.RETENTION_SES_EVENT_DAYS = 90

    def event(n: int, age: int, processed: bool = True) -> FeedbackEvent:
        return FeedbackEvent.objects.create(
            sns_message_id=f"m{n}",
            event_key=f"k{n}",
            event_type="Delivery",
            topic_arn="arn:aws:sns:eu-west-2:123456789012:ses",
            payload={"mail": {"destination": [f"r{n}@mail.example"]}},
            received_at=days_ago(age),
            processed_at=timezone.now() if processed else None,
        )

    old, young, unprocessed = event(1, 91), event(2, 89), event(3, 120, processed=False)

    assert feedback_payloads_purge() == 1

    for stored in (old, young, unprocessed):
        stored.refresh_from_db()
    assert old.payload == {} and old.event_key == "k1"
    assert young.payload and unprocessed.payload


def test_every_scheduled_task_exists(settings):
    from newsletter.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name} names a task that does not exist"
