"""Fixtures shared by the whole suite: the local SES endpoint, a clean Redis, factories' data."""

import functools
from collections.abc import Iterator
from unittest.mock import patch

import boto3
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings as settings_module
from django.test import override_settings
from moto.server import ThreadedMotoServer

from campaigns.results.clicks import link_addresses_forget
from campaigns.results.courier import courier_wait
from mailer import ses
from newsletter import celery_app
from newsletter.local_ses import local_outbox, local_ses_prepare

# Real Celery worker processes (``worker_processes``) and tasks through the broker (``broker_tasks``); the faster
# flush that empties the database after each transactional test.
pytest_plugins = ("tests.celery_workers", "tests.db_reset")
boto3_client = boto3.client  # boto3.client itself, while local_ses_prepare is given the cached clients


class CountingMotoServer(ThreadedMotoServer):
    """moto's server, counting the requests it answers. While the count stays the same, nobody has changed what it
    holds: a test that sent it nothing leaves it as clean as it found it."""

    requests = 0
    clean: tuple | None = None  # (requests, what it was prepared with) when last reset and prepared
    url = ""

    @staticmethod
    @functools.cache
    def client(service: str, **options) -> object:
        """A boto3 client, made once for each service and options: making one takes about 20 ms."""
        return boto3_client(service, **options)

    def start(self) -> None:
        super().start()
        app = self._server.app

        def counting(environ, start_response):
            self.requests += 1
            return app(environ, start_response)

        self._server.app = counting


@pytest.fixture(scope="session")
def ses_server(django_test_environment) -> Iterator[CountingMotoServer]:
    """moto's SES server on a free loopback port; every test's mail path talks to it over HTTP."""
    server = CountingMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    server.url = f"http://{host}:{port}"
    overrides = override_settings(SES_ENDPOINT_URL=server.url)
    overrides.enable()
    ses._cached_client.cache_clear()
    yield server
    overrides.disable()
    server.stop()


@pytest.fixture(scope="session")
def ses_endpoint(ses_server) -> str:
    """The address of moto's SES server."""
    return ses_server.url


@pytest.fixture(autouse=True)
def _fresh_services(ses_server, ses_endpoint, settings):
    """Each test starts with an empty SES outbox and empty rate-limit counters.

    Resetting moto and preparing it again (the sender's domain, the configuration set and its SNS destination) takes
    several requests, 60 ms or more; it is done only when moto answered a request since it was last prepared, or is to
    be prepared differently (many tests send it nothing)."""
    import urllib.request

    prepared_with = (settings.SES_REGION, settings.DEFAULT_FROM_EMAIL, settings.SES_CONFIGURATION_SET)
    if ses_server.clean != (ses_server.requests, prepared_with):
        urllib.request.urlopen(urllib.request.Request(f"{ses_endpoint}/moto-api/reset", method="POST"), timeout=10)
        with patch.object(boto3, "client", ses_server.client):  # the same few clients each time
            local_ses_prepare(
                endpoint_url=ses_endpoint,
                region=settings.SES_REGION,
                sender=settings.DEFAULT_FROM_EMAIL,
                configuration_set=settings.SES_CONFIGURATION_SET,
            )
        ses_server.clean = (ses_server.requests, prepared_with)
    _cache_keys_delete()
    yield


def _cache_keys_delete():
    """Delete this suite's cache keys (rate-limit counters) only; never FLUSHDB, which would also drop
    Celery messages of anything else using the same Redis database."""
    location = settings_module.CACHES["default"]["LOCATION"]
    client = redis.Redis.from_url(location)
    keys = list(client.scan_iter(f"{settings_module.CACHES['default']['KEY_PREFIX']}:*", count=1000))
    if keys:
        client.delete(*keys)
    # And the clicks and opens counted but not yet written (campaigns.results.tally), carried to Redis first, and the
    # link addresses kept in this process: another test's would be written onto, or answer for, this test's sends,
    # whose ids a rolled-back SQLite database gives out again.
    assert courier_wait(), "the clicks an earlier test queued were not carried to Redis within 10 s"
    link_addresses_forget()
    if keys := list(client.scan_iter("nl:tally:*", count=1000)):  # the cache's Redis is REDIS_URL's
        client.delete(*keys)


class Outbox:
    """What the local SES endpoint received, read back over HTTP and parsed with the email package."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def all(self):
        return local_outbox(endpoint_url=self.endpoint)

    def to(self, address: str):
        return [m for m in self.all() if address in m.to]

    def last_to(self, address: str):
        messages = self.to(address)
        assert messages, f"No email reached {address}; the outbox has {len(self.all())} message(s)."
        return messages[-1]


@pytest.fixture
def outbox(ses_endpoint) -> Outbox:
    return Outbox(ses_endpoint)


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[object]:
    """A real Celery worker in a thread, consuming from the configured broker (Redis).

    Tasks are sent to the broker instead of running inline while it runs, so an email travels
    web request -> Redis -> worker -> boto3 -> the local SES endpoint, as in production.
    """
    ran: list[tuple[str, bool]] = []

    def record(sender=None, task=None, **kwargs):
        ran.append((task.name, bool(getattr(task.request, "is_eager", False))))

    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    task_postrun.connect(record, weak=False)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            worker.tasks_run = ran  # (task name, ran inline?) for each task the worker finished
            yield worker
    finally:
        task_postrun.disconnect(record)
        celery_app.conf.task_always_eager = was_eager
