"""Workers die and Redis forgets: the ledger still finishes the send, and nobody receives it twice."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from campaigns.demo_content import demo_campaign
from campaigns.models import Delivery, DeliveryState, Send, SendState
from campaigns.sending import deliveries_sweep, send_create, send_start, sends_sweep
from subscribers.addresses import address_hmac
from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Topic

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROOT = Path(__file__).resolve().parents[2]
IN_FLIGHT = 4  # rows a worker marks as attempting at a time: the most a crash can leave in doubt
WORKER = "import django; django.setup(); from campaigns.worker import send_work; send_work(send_id={send_id})"


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker_process(send_id: int, rate: int) -> subprocess.Popen:
    """A separate worker process on the same database, Redis and SES endpoint as the test."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsletter.settings.local",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SES_ENDPOINT_URL": settings.SES_ENDPOINT_URL,
        "SES_MAX_SEND_RATE": str(rate),
        "SEND_BATCH_SIZE": "20",
        "SEND_IN_FLIGHT": str(IN_FLIGHT),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-c", WORKER.format(send_id=send_id)], cwd=ROOT, env=env)


def _audience(count: int) -> list[str]:
    general = Topic.objects.get(is_default=True)
    emails = [f"reader{n}@mail.example" for n in range(count)]
    people = Subscriber.objects.bulk_create(Subscriber(email=e, address_hmac=address_hmac(e)) for e in emails)
    Subscription.objects.bulk_create(
        Subscription(subscriber=p, topic=general, status=SubscriptionStatus.ACTIVE) for p in people
    )
    return emails


def _wait_for_sent(send: Send, seconds: float, at_least: int = 40) -> None:
    """Until the worker has some messages out (so that what follows happens mid-send)."""
    deadline = time.monotonic() + seconds
    while Delivery.objects.filter(send=send, state=DeliveryState.SENT).count() < at_least:
        assert time.monotonic() < deadline, "the worker sent too little"
        time.sleep(0.1)


@pytest.fixture
def big_send(settings, tmp_path, outbox):
    settings.MEDIA_ROOT = tmp_path
    emails = _audience(300)
    send = send_start(send=send_create(page=demo_campaign()))
    return send, emails


def test_a_worker_killed_mid_send_never_causes_a_second_message(big_send, outbox, settings):
    send, emails = big_send

    # Given a worker process sending at 50/s, killed with SIGKILL once some messages are out
    first = _worker_process(send.pk, rate=50)
    _wait_for_sent(send, seconds=60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    in_doubt_before_sweep = Delivery.objects.filter(
        send=send, state=DeliveryState.CLAIMED, attempted_at__isnull=False
    ).count()

    # When its leases expire and a new worker process takes over
    Delivery.objects.filter(send=send, state=DeliveryState.CLAIMED).update(lease_expires_at="2000-01-01T00:00Z")
    swept = deliveries_sweep()
    second = _worker_process(send.pk, rate=1000)
    assert second.wait(timeout=120) == 0

    # Then nobody got two messages, and the rows in doubt are at most the one window in flight
    received = Counter(a for m in outbox.all() for a in m.to)
    assert max(received.values()) == 1
    states = Counter(Delivery.objects.filter(send=send).values_list("state", flat=True))
    assert states[DeliveryState.UNKNOWN] == swept["unknown"] == in_doubt_before_sweep <= IN_FLIGHT
    assert states[DeliveryState.SENT] + states[DeliveryState.UNKNOWN] == len(emails)
    assert Send.objects.get(pk=send.pk).state == SendState.SENT


def test_a_redis_flush_mid_send_loses_nothing_and_sends_nothing_twice(big_send, outbox, settings):
    send, emails = big_send

    # Given a worker process sending, whose rate limiter and queue live in Redis
    worker = _worker_process(send.pk, rate=100)
    _wait_for_sent(send, seconds=60)

    # When Redis forgets everything in the middle of the send
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    assert worker.wait(timeout=120) == 0
    sends_sweep()  # the beat task: wakes a worker for anything left (none here), finishes the send

    # Then the send completed from the ledger, once per recipient
    received = Counter(a for m in outbox.all() for a in m.to)
    assert sorted(received) == sorted(emails)
    assert set(received.values()) == {1}
    assert Send.objects.get(pk=send.pk).state == SendState.SENT
