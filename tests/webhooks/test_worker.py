"""End to end through a real Celery worker on the ``webhooks`` queue: a receiver that fails (500s, then timeouts)
and then recovers gets every event, once back, in order per subscriber.

The retry schedule is injected through ``WEBHOOK_RETRY_SCHEDULE`` (one second per wait instead of 5 s ... 10 h) and
the timeout through ``WEBHOOK_TIMEOUT_SECONDS`` (one second instead of ten), in the worker's environment, so the test
waits seconds, not hours; the code path is the production one.
"""

import time

import pytest

from subscribers.models import ConsentSource
from subscribers.services import subscriber_get_or_create, subscription_withdraw
from tests.factories import SubscriptionFactory
from webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PEOPLE = 4
FAILURES = 3  # answered 500
TIMEOUTS = 2  # then left unanswered past the timeout


def test_a_receiver_that_fails_then_recovers_gets_every_event_in_order_per_subscriber(receiver, worker_processes):
    # Given a worker on the webhooks queue with a one-second retry schedule, and a receiver that answers 500 three
    # times, then hangs past the timeout twice, then answers 200
    worker_processes.start(
        name="webhooks",
        queues=("webhooks",),
        concurrency=2,
        env={"WEBHOOK_RETRY_SCHEDULE": "1,1,1,1,1,1,1", "WEBHOOK_TIMEOUT_SECONDS": "1"},
    )
    worker_processes.wait_ready()

    def plan(n):
        if n < FAILURES:
            return 500, 0
        if n < FAILURES + TIMEOUTS:
            return 200, 3.0
        return 200, 0

    receiver.plan = plan
    _, secret = webhook_endpoint_create(
        user=None,
        name="CRM",
        url=receiver.url,
        events=["subscriber.created", "subscription.withdrawn"],
    )
    receiver.secrets.append(secret)

    # When each of four people is created, then unsubscribes (two events each, queued after each commit)
    expected = {}
    for n in range(PEOPLE):
        person = subscriber_get_or_create(email=f"reader{n}@mail.example")
        subscription = SubscriptionFactory(subscriber=person)
        subscription_withdraw(subscription=subscription, source=ConsentSource.ONE_CLICK)
        expected[str(person.public_id)] = ["subscriber.created", "subscription.withdrawn"]

    # Then every delivery succeeds, within the retries
    deadline = time.monotonic() + 60
    while WebhookDelivery.objects.exclude(state=DeliveryState.SUCCEEDED).exists():
        assert time.monotonic() < deadline, list(WebhookDelivery.objects.values("pk", "state", "attempts"))
        time.sleep(0.2)

    # Every event reached the receiver, verified, and in order per subscriber
    accepted = receiver.succeeded()
    got = {}
    for request in accepted:
        got.setdefault(request.json["data"]["subscriber"], []).append(request.json["type"])
    assert {key: list(dict.fromkeys(types)) for key, types in got.items()} == expected
    for types in got.values():
        # A timed-out attempt reached the receiver too (at least once), but never out of order: every "created"
        # about a person before any "withdrawn" about them.
        assert types == sorted(types, key=["subscriber.created", "subscription.withdrawn"].index)
    assert all(r.verified_with == [0] for r in receiver.requests)
    errors = set(WebhookAttempt.objects.exclude(error="").values_list("error", flat=True))
    assert errors == {"timed out after 1 s"}
    assert WebhookAttempt.objects.filter(status_code=500).count() == FAILURES
