"""End to end: a real Celery worker sends a campaign to 2,000 subscribers through boto3 and moto's SES server."""

import time
from collections import Counter

import pytest

from campaigns.authoring.demo_content import demo_campaign
from campaigns.models import DeliveryState, Send, SendState
from campaigns.sending.services import send_create, send_start
from subscribers.addresses import address_hmac
from subscribers.models import Subscriber, Subscription, SubscriptionStatus, SuppressionReason, SuppressionScope, Topic
from subscribers.services import suppression_add

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ELIGIBLE = 2000


def _people(prefix: str, count: int, status: str, topic: Topic) -> list[str]:
    emails = [f"{prefix}{n}@mail.example" for n in range(count)]
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=e, address_hmac=address_hmac(e), first_name=f"Reader {n}") for n, e in enumerate(emails)
    )
    Subscription.objects.bulk_create(Subscription(subscriber=s, topic=topic, status=status) for s in subscribers)
    return emails


def test_every_eligible_subscriber_gets_exactly_one_message_and_no_one_else_any(
    settings, tmp_path, celery_worker, outbox
):
    # Given 2,000 subscribers who may be mailed, and some who may not
    settings.MEDIA_ROOT = tmp_path
    settings.SES_MAX_SEND_RATE = 5000
    settings.SEND_BATCH_SIZE = 100
    campaign = demo_campaign()
    general = Topic.objects.get(is_default=True)
    eligible = _people("reader", ELIGIBLE, SubscriptionStatus.ACTIVE, general)
    pending = _people("pending", 20, SubscriptionStatus.PENDING, general)
    unsubscribed = _people("gone", 20, SubscriptionStatus.UNSUBSCRIBED, general)
    bounced = _people("bounced", 20, SubscriptionStatus.ACTIVE, general)
    for email in bounced:
        suppression_add(email=email, scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)

    # When the send starts (the worker is woken through Redis after commit)
    send = send_start(send=send_create(page=campaign))
    deadline = time.monotonic() + 180
    while Send.objects.get(pk=send.pk).state != SendState.SENT:
        assert time.monotonic() < deadline, Counter(send.deliveries.values_list("state", flat=True))
        time.sleep(0.5)

    # Then each eligible address received exactly one message, counted from the SES server's own record
    received = Counter(address for message in outbox.all() for address in message.to)
    assert {address: received[address] for address in eligible} == dict.fromkeys(eligible, 1)
    assert not any(received[a] for a in pending + unsubscribed + bounced)
    assert sum(received.values()) == ELIGIBLE
    assert Counter(send.deliveries.values_list("state", flat=True)) == {DeliveryState.SENT: ELIGIBLE}
    assert ("campaigns.tasks.send_work_task", False) in celery_worker.tasks_run
