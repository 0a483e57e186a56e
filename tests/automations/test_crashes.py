"""Automations through real Celery worker processes while things go wrong: a worker killed with SIGKILL mid-step, and
Redis (broker and rate limiter) flushed mid-step. The SES endpoint counts what it accepted: nobody gets a step twice.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from automations.models import Automation, AutomationDelivery, AutomationRun, AutomationTrigger, RunState, StepKind
from automations.services import automation_activate, automation_create, runs_enter_subscribers, step_add
from automations.tasks import automations_tick_task, automations_work_task
from campaigns.models import DeliveryState
from subscribers.addresses import address_hmac
from subscribers.models import Subscriber, Subscription, SubscriptionStatus
from tests.automations.conftest import email_page
from tests.factories import TopicFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CONCURRENCY = 4  # SES calls a worker has open at once: with the answers not yet written, the most left in doubt
WORKER_ENV = {
    "SEND_CONCURRENCY": str(CONCURRENCY),
    "AUTOMATION_LEASE_SECONDS": "600",  # far longer than the test: a run that waited for one would miss its deadline
    "AUTOMATION_BATCH_SIZE": "50",
}


def _series(people: int, *, wait_seconds: int = 1) -> tuple[Automation, list[str]]:
    """Two emails with a short wait between them, and ``people`` subscribers in it, all due now."""
    topic = TopicFactory()
    automation = automation_create(name="Welcome", topic=topic, trigger=AutomationTrigger.TOPIC_CONFIRMED)
    step_add(automation=automation, kind=StepKind.EMAIL, email=email_page(1))
    step_add(automation=automation, kind=StepKind.WAIT, wait_seconds=wait_seconds)
    step_add(automation=automation, kind=StepKind.EMAIL, email=email_page(2))
    automation_activate(automation=automation)
    emails = [f"reader{n}@mail.example" for n in range(people)]
    subscribers = Subscriber.objects.bulk_create(Subscriber(email=e, address_hmac=address_hmac(e)) for e in emails)
    Subscription.objects.bulk_create(
        Subscription(subscriber=s, topic=topic, status=SubscriptionStatus.ACTIVE) for s in subscribers
    )
    return automation, emails


def _rows(automation) -> Counter:
    return Counter(
        AutomationDelivery.objects.filter(step__automation=automation).values_list("step__position", "state")
    )


def _wait_for(condition, *, seconds: float, what) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.1)


def _received(outbox) -> Counter:
    """(address, subject) -> how many times SES accepted it."""
    return Counter((address, message.subject) for message in outbox.all() for address in message.to)


def test_a_worker_killed_mid_step_leaves_a_few_rows_in_doubt_and_nobody_gets_a_step_twice(outbox, worker_processes):
    # Given 600 people due for the first email, and a worker at 200 messages a second
    automation, emails = _series(600)
    first = worker_processes.start(
        name="first", queues=("automations",), env={**WORKER_ENV, "SES_MAX_SEND_RATE": "200"}
    )
    first.wait_ready()
    runs_enter_subscribers(
        automation=automation, subscriber_ids=list(Subscriber.objects.values_list("pk", flat=True)), occurrence=""
    )
    automations_work_task.delay()

    # When it is killed with SIGKILL, pool process and all, mid-step
    sent = lambda: AutomationDelivery.objects.filter(state=DeliveryState.SENT).count()  # noqa: E731
    calls_open = AutomationDelivery.objects.filter(state=DeliveryState.CLAIMED, attempted_at__isnull=False).exists
    _wait_for(lambda: sent() >= 150 and calls_open(), seconds=60, what=lambda: _rows(automation))
    first.kill()
    in_doubt = AutomationDelivery.objects.filter(state=DeliveryState.CLAIMED, attempted_at__isnull=False).count()
    assert in_doubt <= CONCURRENCY, _rows(automation)
    print(f"in doubt after the kill: {in_doubt}; rows then: {dict(_rows(automation))}")

    # And the leases of its runs end (as they would after AUTOMATION_LEASE_SECONDS), and another worker carries on
    AutomationRun.objects.exclude(claimed_by="").update(due_at=timezone.now() - timedelta(seconds=1))
    worker_processes.start(name="second", queues=("automations",), env={**WORKER_ENV, "SES_MAX_SEND_RATE": "1000"})
    worker_processes.wait_ready()
    automations_work_task.delay()

    def finished() -> bool:
        if AutomationRun.objects.filter(state=RunState.ACTIVE, due_at__lte=timezone.now()).exists():
            automations_tick_task()  # what beat does every 15 seconds: wake a worker for the runs due after the wait
        return not AutomationRun.objects.filter(state=RunState.ACTIVE).exists()

    _wait_for(finished, seconds=120, what=lambda: _rows(automation))

    # Then nobody received a step twice; the rows in doubt stay unknown and were not sent again; everyone else got both
    received = _received(outbox)
    assert max(received.values()) == 1
    rows = _rows(automation)
    assert rows[(1, DeliveryState.UNKNOWN)] == in_doubt
    assert rows[(1, DeliveryState.SENT)] + in_doubt == len(emails)
    assert rows[(3, DeliveryState.SENT)] == len(emails)
    second_emails = {address for (address, subject) in received if subject.startswith("Welcome 2")}
    assert second_emails == set(emails), "the second email reached everyone, those in doubt too"
    assert AutomationRun.objects.filter(state=RunState.FINISHED).count() == len(emails)


def test_a_redis_flush_mid_step_loses_nothing_and_sends_nothing_twice(outbox, worker_processes):
    # Given 400 people due, and a worker at 150 messages a second
    automation, emails = _series(400)
    worker_processes.start(name="automations", queues=("automations",), env={**WORKER_ENV, "SES_MAX_SEND_RATE": "150"})
    worker_processes.wait_ready()
    runs_enter_subscribers(
        automation=automation, subscriber_ids=list(Subscriber.objects.values_list("pk", flat=True)), occurrence=""
    )
    automations_work_task.delay()
    sent = lambda: AutomationDelivery.objects.filter(state=DeliveryState.SENT).count()  # noqa: E731
    _wait_for(lambda: sent() >= 100, seconds=60, what=lambda: _rows(automation))

    # When Redis forgets everything: the queued wake-ups, the message being worked on, the rate limiter's schedule
    redis.Redis.from_url(settings.REDIS_URL).flushdb()

    # Then, with beat's tick waking workers as it does every 15 seconds, everyone gets each email exactly once
    def finished() -> bool:
        if AutomationRun.objects.filter(state=RunState.ACTIVE, due_at__lte=timezone.now()).exists():
            automations_tick_task()
        return not AutomationRun.objects.filter(state=RunState.ACTIVE).exists()

    _wait_for(finished, seconds=120, what=lambda: _rows(automation))
    received = _received(outbox)
    assert set(received.values()) == {1}
    assert len(received) == 2 * len(emails)
    assert _rows(automation) == {(1, DeliveryState.SENT): len(emails), (3, DeliveryState.SENT): len(emails)}
