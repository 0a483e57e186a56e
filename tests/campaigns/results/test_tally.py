"""Clicks and opens counted in Redis and written to the database in batches: nothing counted twice, nothing lost
when a flush dies, and the database written directly when Redis cannot be reached."""

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from campaigns.results import courier, tally
from campaigns.results.clicks import click_recipient_key, click_url
from campaigns.results.courier import Courier, courier_wait
from campaigns.results.report import send_report
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from tests.factories import SubscriptionFactory

from .test_clicks import path_of

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _fast_rate(settings):
    settings.SES_MAX_SEND_RATE = 1000


@pytest.fixture
def send(campaign):
    return send_start(send=send_create(page=campaign))


def clicks(send) -> list[tuple[int, int]]:
    return list(send.links.values_list("position", "clicks"))


def test_clicks_wait_in_redis_until_a_flush_writes_them_once(client, send):
    path = path_of(click_url(send_id=send.pk, position=1))
    for _ in range(3):
        assert client.get(path).status_code == 302

    assert clicks(send) == [(1, 0), (2, 0), (3, 0)]  # not yet written
    assert tally.tally_flush() == 1
    assert clicks(send) == [(1, 3), (2, 0), (3, 0)]
    assert tally.tally_flush() == 0  # nothing left: a second flush adds nothing
    assert clicks(send) == [(1, 3), (2, 0), (3, 0)]


def test_a_batch_whose_flush_died_is_written_by_a_later_flush_and_only_once(client, send):
    path = path_of(click_url(send_id=send.pk, position=2))
    client.get(path)
    client.get(path)
    assert courier_wait(timeout=5)  # the two clicks are in Redis
    # A flush takes the batch, then dies before writing it.
    connection = redis.Redis.from_url(settings.REDIS_URL)
    keys = (tally.CLICKS, tally.CLICKED, tally.OPENS, tally.BATCHES)
    assert connection.eval(tally._TAKE, 4, *keys, "dead", time.time()) == 1
    client.get(path)

    # A flush now writes its own batch; the dead one's is not old enough to be taken over (its flush may be slow).
    tally.tally_flush()
    assert clicks(send) == [(1, 0), (2, 1), (3, 0)]

    # A minute on, the next flush takes it over; later flushes find nothing.
    connection.zadd(tally.BATCHES, {"dead": time.time() - tally.ORPHAN_SECONDS - 1})
    tally.tally_flush()
    tally.tally_flush()
    assert clicks(send) == [(1, 0), (2, 3), (3, 0)]
    assert not list(connection.scan_iter("nl:tally:*"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the courier writes on a connection of its own
def test_without_redis_the_courier_writes_clicks_and_opens_to_the_database(
    client, campaign, outbox, monkeypatch, settings
):
    subscription = SubscriptionFactory()
    send = send_start(send=send_create(page=campaign))
    send_work(send_id=send.pk)
    # Nothing listens on port 1 of the loopback address: every Redis call fails, at once (the client tally builds
    # does not retry).
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(tally, "_client", None)

    key = click_recipient_key(subscription=subscription)
    assert client.get(f"{path_of(click_url(send_id=send.pk, position=1))}?r={key}").status_code == 302
    tally.tally_open(send_id=send.pk)
    assert courier_wait(timeout=10)

    assert clicks(send) == [(1, 1), (2, 0), (3, 0)]
    assert send.deliveries.get().clicked_at is not None
    send.refresh_from_db()
    assert send.opens == 1
    # And a report still shows, from what the database holds.
    assert send_report(send=send)["clicks"] == 1


def redis_count(key: str, field: str) -> int:
    return int(redis.Redis.from_url(settings.REDIS_URL).hget(key, field) or 0)


def test_a_click_is_carried_to_redis_at_once_without_waiting_for_a_flush(client, send):
    path = path_of(click_url(send_id=send.pk, position=1))
    assert client.get(path).status_code == 302

    deadline = time.monotonic() + 5
    while redis_count(tally.CLICKS, f"{send.pk}:1") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert redis_count(tally.CLICKS, f"{send.pk}:1") == 1
    assert clicks(send) == [(1, 0), (2, 0), (3, 0)]  # the database only at the flush


def test_a_batch_of_queued_clicks_and_opens_is_added_up_into_one_round_trip(send):
    tally._carry([(send.pk, 1, "a" * 32), (send.pk, 1, "a" * 32), (send.pk, 1, None), (send.pk, 3, "b" * 32),
                  (send.pk,), (send.pk,)])

    connection = redis.Redis.from_url(settings.REDIS_URL)
    assert connection.hgetall(tally.CLICKS) == {f"{send.pk}:1".encode(): b"3", f"{send.pk}:3".encode(): b"1"}
    assert connection.smembers(tally.CLICKED) == {f"{send.pk}:{'a' * 32}".encode(), f"{send.pk}:{'b' * 32}".encode()}
    assert connection.hgetall(tally.OPENS) == {str(send.pk).encode(): b"2"}


def test_when_the_queue_is_full_the_request_carries_its_own_click(client, send, monkeypatch):
    held = Courier(tally._carry, maxsize=1)  # not started yet: nothing empties its queue
    monkeypatch.setattr(courier, "_courier", held)
    path = path_of(click_url(send_id=send.pk, position=2))

    assert client.get(path).status_code == 302  # answered, the click queued: nothing is counted in the request
    assert redis_count(tally.CLICKS, f"{send.pk}:2") == 0
    assert len(held.pending) == 1

    assert client.get(path).status_code == 302  # the queue is full: counted in Redis by the request itself

    assert redis_count(tally.CLICKS, f"{send.pk}:2") == 1
    assert len(held.pending) == 1
    held.start()
    assert held.wait(timeout=5)
    assert redis_count(tally.CLICKS, f"{send.pk}:2") == 2


def test_a_wait_returns_once_what_was_queued_before_it_is_carried_though_clicks_keep_coming():
    carried = []

    def slow_carry(entries):  # a slow Redis: the queue is never empty while clicks keep coming
        time.sleep(0.02)
        carried.extend(entries)

    busy = Courier(slow_carry).start()
    stop = threading.Event()

    def click_on():
        while not stop.is_set():
            busy.put(("another",))
            time.sleep(0.001)

    feeder = threading.Thread(target=click_on)
    feeder.start()
    try:
        time.sleep(0.05)
        busy.put(("mine",))
        assert busy.wait(timeout=5)
        assert ("mine",) in carried
    finally:
        stop.set()
        feeder.join()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread's end is the point
def test_a_courier_whose_thread_died_is_replaced_and_what_waited_is_carried(send, monkeypatch):
    def die(entries):
        raise SystemExit  # ends the thread, as no exception of a batch does

    stopped = Courier(die).start()
    stopped.put((send.pk, 1, None))  # taken by the batch that ends the thread: lost
    stopped.thread.join(timeout=5)
    assert stopped.dead
    stopped.put((send.pk, 1, None))  # waits, with nobody to carry it
    monkeypatch.setattr(courier, "_courier", stopped)

    tally.tally_click(send_id=send.pk, position=1, public_id=None)

    assert courier_wait(timeout=5)
    assert redis_count(tally.CLICKS, f"{send.pk}:1") == 2


def test_a_process_ending_normally_carries_its_queued_clicks_first():
    # 20,000 clicks queued, then the interpreter ends at once: without the exit hook its daemon courier thread
    # would be stopped with most of them still queued.
    field = "987654321:1"
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings; print(settings.REDIS_URL)\n"
        "from campaigns.results import tally\n"
        "for _ in range(20_000): tally.tally_click(send_id=987654321, position=1, public_id=None)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsletter.settings.test"}
    try:
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == settings.REDIS_URL  # the child counted where this test reads
        assert redis_count(tally.CLICKS, field) == 20_000
    finally:
        redis.Redis.from_url(settings.REDIS_URL).hdel(tally.CLICKS, field)


def _clicks_in_child(send_id: int) -> None:
    for _ in range(100):
        tally.tally_click(send_id=send_id, position=3, public_id=None)
    os._exit(0 if courier_wait(timeout=10) else 3)  # os._exit: no exit hooks, so the wait is this one


def test_a_forked_process_starts_a_courier_of_its_own(send):
    tally.tally_click(send_id=send.pk, position=3, public_id=None)  # this process's courier runs
    assert courier_wait(timeout=5)

    child = multiprocessing.get_context("fork").Process(target=_clicks_in_child, args=(send.pk,))
    child.start()
    child.join(timeout=30)
    if child.is_alive():
        child.terminate()

    assert child.exitcode == 0
    assert redis_count(tally.CLICKS, f"{send.pk}:3") == 101


def test_a_report_writes_the_waiting_clicks_first(client, campaign, outbox):
    subscriptions = [SubscriptionFactory() for _ in range(6)]
    send = send_start(send=send_create(page=campaign))
    send_work(send_id=send.pk)
    for subscription in subscriptions:
        key = click_recipient_key(subscription=subscription)
        client.get(f"{path_of(click_url(send_id=send.pk, position=3))}?r={key}")
        client.get(f"{path_of(click_url(send_id=send.pk, position=3))}?r={key}")  # a second click marks nothing
    tally.tally_open(send_id=send.pk)

    report = send_report(send=send)

    assert report["clicks"] == 12
    assert report["counts"]["clicked"] == 6
    assert send.opens == 1  # refreshed on the object the caller holds


def test_a_link_clicked_a_moment_ago_is_answered_and_counted_without_the_database(
    client, send, django_assert_num_queries
):
    path = path_of(click_url(send_id=send.pk, position=2))
    assert client.get(path).status_code == 302  # the first click reads the address from the database

    with django_assert_num_queries(0):
        response = client.get(path)

    assert response["Location"] == "https://shop.larkspur-lune.example/aurora-ring"
    tally.tally_flush()
    assert clicks(send) == [(1, 0), (2, 2), (3, 0)]
