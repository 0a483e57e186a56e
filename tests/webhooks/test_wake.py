"""Wake-ups after commit are coalesced: a burst queues one task at once and one to start a second later, not one
per event; the next second's first event queues one at once again. Read from the real broker (Redis), with tasks
sent to it instead of run inline and no worker consuming them."""

import json
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from newsletter import celery_app
from subscribers.services import subscriber_get_or_create
from webhooks.publishing import webhook_deliveries_wake

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_wakes() -> Iterator:
    """The delivery tasks waiting in the ``webhooks`` queue, as (task name, its eta or None), oldest first."""
    broker = redis.Redis.from_url(settings.REDIS_URL)  # the broker's database (its URL is kombu's spelling on a socket)
    broker.delete("webhooks")
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False

    def read() -> list[tuple[str, datetime | None]]:
        messages = [json.loads(raw) for raw in reversed(broker.lrange("webhooks", 0, -1))]  # LPUSHed: newest first
        return [
            (m["headers"]["task"], datetime.fromisoformat(m["headers"]["eta"]) if m["headers"].get("eta") else None)
            for m in messages
        ]

    try:
        yield read
    finally:
        celery_app.conf.task_always_eager = was_eager
        broker.delete("webhooks")


def test_a_burst_of_wakes_queues_one_task_now_and_one_a_second_later_instead_of_one_per_event(queued_wakes):
    started = timezone.now()
    for _ in range(50):
        webhook_deliveries_wake()

    [(now_task, now_eta), (later_task, later_eta)] = queued_wakes()
    assert now_task == later_task == "webhooks.tasks.webhook_deliver_task"
    assert now_eta is None
    assert started.timestamp() + 0.9 <= later_eta.timestamp() <= timezone.now().timestamp() + 1.1

    # A second on, the first wake queues a task at once again
    time.sleep(1.1)
    webhook_deliveries_wake()
    assert len(queued_wakes()) == 3
    assert queued_wakes()[-1][1] is None


def test_events_committed_in_a_burst_queue_two_tasks_not_one_each(
    queued_wakes, endpoint_for, django_capture_on_commit_callbacks
):
    endpoint_for(events=["subscriber.created"])

    for n in range(20):
        with django_capture_on_commit_callbacks(execute=True):
            subscriber_get_or_create(email=f"p{n}@mail.example")

    assert [eta is None for _, eta in queued_wakes()] == [True, False]
