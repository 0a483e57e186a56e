"""Sends through real Celery worker processes while things go wrong: workers killed or stopped, Redis restarted,
PostgreSQL connections cut, SES throttling, a cancel. The SES endpoint (moto's server, through tests/faulty_ses.py
where faults are wanted) records every message it accepted, so "nobody twice, nothing lost" is counted there.
"""

import signal
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from campaigns.authoring.demo_content import demo_campaign
from campaigns.models import Delivery, DeliveryState, Send, SendState
from campaigns.sending.services import deliveries_sweep, send_cancel, send_create, send_start
from newsletter.settings.base import redis_url_database
from subscribers.addresses import address_hmac
from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Topic
from tests.faulty_ses import FaultPlan, FaultySes
from tests.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CONCURRENCY = 4  # SES calls a worker process has open at once: the most a crash may leave in doubt
# Leases far longer than any of these tests: a send that waited for one would fail by its deadline instead.
WORKER_ENV = {"SEND_CONCURRENCY": str(CONCURRENCY), "SEND_LEASE_SECONDS": "600", "SEND_BATCH_SIZE": "50"}


def _audience(count: int) -> list[str]:
    general = Topic.objects.get(is_default=True)
    emails = [f"reader{n}@mail.example" for n in range(count)]
    people = Subscriber.objects.bulk_create(Subscriber(email=e, address_hmac=address_hmac(e)) for e in emails)
    Subscription.objects.bulk_create(
        Subscription(subscriber=p, topic=general, status=SubscriptionStatus.ACTIVE) for p in people
    )
    return emails


@pytest.fixture
def campaign(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return demo_campaign()


def _start(campaign) -> Send:
    """Start a send: its wake-ups go through Redis to the worker processes (``broker_tasks``)."""
    return send_start(send=send_create(page=campaign))


def _states(send: Send) -> Counter:
    return Counter(Delivery.objects.filter(send=send).values_list("state", flat=True))


def _wait_for_sent(send: Send, at_least: int, seconds: float = 60) -> None:
    """Until the workers have some messages out (so that what follows happens mid-send)."""
    deadline = time.monotonic() + seconds
    while Delivery.objects.filter(send=send, state=DeliveryState.SENT).count() < at_least:
        assert time.monotonic() < deadline, f"the workers sent too little: {_states(send)}"
        time.sleep(0.05)


def _wait_until_finished(send: Send, seconds: float) -> float:
    """Until the send is ``sent``; returns how long that took. Nothing here sweeps or expires leases."""
    began = time.monotonic()
    while Send.objects.get(pk=send.pk).state != SendState.SENT:
        assert time.monotonic() - began < seconds, f"the send did not finish within {seconds:.0f}s: {_states(send)}"
        time.sleep(0.1)
    return time.monotonic() - began


def _received(outbox) -> Counter:
    return Counter(address for message in outbox.all() for address in message.to)


def _sent_recipients(send: Send) -> set[str]:
    rows = Delivery.objects.filter(send=send, state=DeliveryState.SENT)
    return set(rows.values_list("subscriber__email", flat=True))


def _in_doubt(send: Send):
    """Rows whose SES call may have been made and whose outcome is not recorded: claimed and attempted."""
    return Delivery.objects.filter(send=send, state=DeliveryState.CLAIMED, attempted_at__isnull=False)


def test_a_worker_killed_mid_send_leaves_at_most_one_window_in_doubt_and_nobody_gets_two(
    campaign, outbox, worker_processes
):
    # Given a sends worker at 250 messages a second: windows of four rows
    emails = _audience(1000)
    first = worker_processes.start(name="first", queues=("sends",), env={**WORKER_ENV, "SES_MAX_SEND_RATE": "250"})
    first.wait_ready()
    send = _start(campaign)

    # When it is killed with SIGKILL, pool process and all, mid-send
    _wait_for_sent(send, at_least=150)
    first.kill()
    in_doubt = list(_in_doubt(send).values_list("subscriber__email", flat=True))
    received = _received(outbox)

    # Then at most the calls one process had open are in doubt
    assert len(in_doubt) <= CONCURRENCY
    never_received = [email for email in in_doubt if not received[email]]
    print(f"in doubt after the kill: {len(in_doubt)}, of which SES never received {len(never_received)}")

    # And when their leases end and another worker carries on, nobody receives the campaign twice
    Delivery.objects.filter(send=send, state=DeliveryState.CLAIMED).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert deliveries_sweep()["unknown"] == len(in_doubt)
    second = worker_processes.start(name="second", queues=("sends",), env={**WORKER_ENV, "SES_MAX_SEND_RATE": "1000"})
    second.wait_ready()
    from campaigns.tasks import send_work_task

    send_work_task.delay(send_id=send.pk)
    _wait_until_finished(send, seconds=60)
    received = _received(outbox)
    assert max(received.values()) == 1
    states = _states(send)
    assert states[DeliveryState.UNKNOWN] == len(in_doubt)
    assert states[DeliveryState.SENT] + states[DeliveryState.UNKNOWN] == len(emails)
    assert _sent_recipients(send) <= set(received)


def test_a_warm_shutdown_mid_send_exits_within_seconds_with_nothing_in_doubt_and_another_worker_finishes(
    campaign, outbox, worker_processes
):
    # Given two sends workers sharing a send at 200 messages a second
    emails = _audience(1000)
    env = {**WORKER_ENV, "SES_MAX_SEND_RATE": "200"}
    leaving = worker_processes.start(name="leaving", queues=("sends",), env=env)
    worker_processes.start(name="staying", queues=("sends",), env=env)
    worker_processes.wait_ready()
    send = _start(campaign)
    _wait_for_sent(send, at_least=150)
    senders = set(Delivery.objects.filter(send=send, state=DeliveryState.SENT).values_list("claimed_by", flat=True))
    assert len(senders) == 2, "both workers are sending"

    # When one gets SIGTERM, as from a deploy, mid-send
    signalled = time.monotonic()
    leaving.send_signal(signal.SIGTERM)
    leaving.process.wait(timeout=30)
    took = time.monotonic() - signalled

    # Then it stopped within seconds, leaving nothing in doubt, and the other worker finished the send
    print(f"the signalled worker exited {took:.1f}s after SIGTERM")
    assert took < 10, leaving.log()[-3000:]
    assert "Stop requested" in leaving.log()
    _wait_until_finished(send, seconds=60)
    assert _states(send) == {DeliveryState.SENT: len(emails)}
    received = _received(outbox)
    assert sorted(received) == sorted(emails) and set(received.values()) == {1}


def _redis_upstream() -> tuple[tuple[str, int] | str, str]:
    """Where the suite's Redis listens, and its database, from REDIS_URL (``redis://`` or ``unix://``)."""
    url = urlsplit(settings.REDIS_URL)
    database = str(redis_url_database(settings.REDIS_URL))
    if url.scheme == "unix":
        return url.path, database
    return (url.hostname or "127.0.0.1", url.port or 6379), database


def test_a_redis_restart_mid_send_loses_no_answer_and_the_send_finishes_without_waiting_for_a_lease(
    campaign, outbox, worker_processes
):
    # Given a sends worker whose Redis (broker and rate limiter) is behind a proxy that can be cut
    emails = _audience(600)
    upstream, database = _redis_upstream()
    proxy = CuttableProxy(upstream)
    with proxy as (host, port):
        worker = worker_processes.start(
            name="sends",
            queues=("sends",),
            env={**WORKER_ENV, "SES_MAX_SEND_RATE": "150", "REDIS_URL": f"redis://{host}:{port}/{database}"},
        )
        worker.wait_ready()
        send = _start(campaign)
        _wait_for_sent(send, at_least=100)

        # When Redis restarts: every connection dropped, none accepted for two seconds, and all it held forgotten
        proxy.cut(2.0)
        redis.Redis.from_url(settings.REDIS_URL).flushdb()

        # Then the send finishes by itself (leases last ten minutes, and no sweeper runs here)
        took = _wait_until_finished(send, seconds=60)
    print(f"the send finished {took:.1f}s after the restart")
    assert "trying again" in worker.log(), "the worker met the restart"
    received = _received(outbox)
    assert _states(send) == {DeliveryState.SENT: len(emails)}, "every answer SES gave was kept: none unknown"
    assert sorted(received) == sorted(emails) and set(received.values()) == {1}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backends: SQLite has no server to cut")
def test_postgresql_connections_terminated_mid_send_lose_no_answer_and_the_send_finishes_without_waiting(
    campaign, outbox, worker_processes
):
    # Given two sends workers sending at 150 messages a second
    emails = _audience(600)
    env = {**WORKER_ENV, "SES_MAX_SEND_RATE": "150"}
    workers = [worker_processes.start(name=name, queues=("sends",), env=env) for name in ("one", "two")]
    worker_processes.wait_ready()
    send = _start(campaign)
    _wait_for_sent(send, at_least=100)

    # When every other connection to the database is terminated, three times, half a second apart
    terminated = 0
    for _ in range(3):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            terminated += cursor.fetchone()[0]
        time.sleep(0.5)

    # Then the workers reconnect, keep every answer, and finish the send by themselves
    took = _wait_until_finished(send, seconds=60)
    print(f"{terminated} connections terminated; the send finished {took:.1f}s later")
    assert terminated >= 2
    assert any("trying again" in worker.log() for worker in workers), "a worker met a terminated connection"
    received = _received(outbox)
    assert _states(send) == {DeliveryState.SENT: len(emails)}, "every answer SES gave was kept: none unknown"
    assert sorted(received) == sorted(emails) and set(received.values()) == {1}


def test_ten_percent_throttling_takes_at_most_half_again_as_long_as_no_faults_and_loses_nothing(
    campaign, outbox, ses_endpoint, worker_processes
):
    # Given the documented sends worker (two processes) at 32 messages a second, behind a proxy that can throttle.
    # The send lasts 25 s, as long as it takes for the few rows SES refuses three times in a row (expected among 800
    # at 10%) to wait out 1 + 2 + 4 s of backoff and still leave the comparison about the send, not its last row.
    emails = _audience(800)
    plan = FaultPlan(throttle_every=0, error_every=0, slow_every=0, drop_calls=set(), throttle_seed=20261206)
    with FaultySes(ses_endpoint, plan) as faulty:
        worker_processes.start(
            name="sends",
            queues=("sends",),
            concurrency=2,
            env={**WORKER_ENV, "SES_MAX_SEND_RATE": "32", "SES_ENDPOINT_URL": faulty},
        )
        worker_processes.wait_ready()

        # When the campaign is sent once without faults, then again with one call in ten throttled (seeded, at random)
        clean = _start(campaign)
        clean_seconds = _wait_until_finished(clean, seconds=120)
        plan.throttle_every = 10
        throttled = _start(campaign)
        throttled_seconds = _wait_until_finished(throttled, seconds=120)

    # Then throttling cost at most half again the time, and each send reached everyone once
    attempts = Counter(Delivery.objects.filter(send=throttled).values_list("attempts", flat=True))
    print(
        f"fault-free {clean_seconds:.1f}s, 10% throttled {throttled_seconds:.1f}s "
        f"({plan.counts['throttled']} 429s; rows by times refused: {sorted(attempts.items())})"
    )
    assert plan.counts["throttled"] >= len(emails) // 12, "about one call in ten was throttled"
    assert throttled_seconds <= 1.5 * clean_seconds
    for send in (clean, throttled):
        assert _states(send) == {DeliveryState.SENT: len(emails)}
    assert set(_received(outbox).values()) == {2}, "each send once to each recipient"


def test_cancel_mid_send_leaves_no_row_queued_or_claimed_when_it_returns(campaign, outbox, worker_processes):
    # Given a sends worker in the middle of a send
    emails = _audience(600)
    worker = worker_processes.start(name="sends", queues=("sends",), env={**WORKER_ENV, "SES_MAX_SEND_RATE": "150"})
    worker.wait_ready()
    send = _start(campaign)
    _wait_for_sent(send, at_least=60)

    # When staff cancel it
    send_cancel(send=send)

    # Then, as the call returns, every row has its outcome, and no message leaves afterwards
    states = _states(send)
    assert not states[DeliveryState.QUEUED] and not states[DeliveryState.CLAIMED], states
    assert states[DeliveryState.SKIPPED] > 0 and states[DeliveryState.SENT] + states[DeliveryState.SKIPPED] == len(
        emails
    )
    time.sleep(1)
    assert sum(_received(outbox).values()) == states[DeliveryState.SENT]
