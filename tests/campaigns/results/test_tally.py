"""Clicks and opens counted in Redis and written to the database in batches: nothing counted twice, nothing lost
when a flush dies, and the database written directly when Redis cannot be reached."""

import time

import pytest
import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from campaigns.results import tally
from campaigns.results.clicks import click_recipient_key, click_url
from campaigns.results.report import send_report
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from tests.factories import SubscriptionFactory

from .test_clicks import path_of


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


def test_without_redis_a_click_and_an_open_are_written_to_the_database_at_once(client, campaign, outbox, monkeypatch):
    subscription = SubscriptionFactory()
    send = send_start(send=send_create(page=campaign))
    send_work(send_id=send.pk)
    # Nothing listens on port 1 of the loopback address: every Redis call fails (at once: without retries, which
    # would only wait out a backoff of some 4 s a call before failing the same way).
    broken = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(tally, "_client", broken)

    key = click_recipient_key(subscription=subscription)
    assert client.get(f"{path_of(click_url(send_id=send.pk, position=1))}?r={key}").status_code == 302
    tally.tally_open(send_id=send.pk)

    assert clicks(send) == [(1, 1), (2, 0), (3, 0)]
    assert send.deliveries.get().clicked_at is not None
    send.refresh_from_db()
    assert send.opens == 1
    # And a report still shows, from what the database holds.
    assert send_report(send=send)["clicks"] == 1


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
