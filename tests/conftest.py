"""Fixtures shared by the whole suite: the local SES endpoint, a clean Redis, factories' data."""

import pytest
import redis
from django.conf import settings as settings_module
from django.test import override_settings
from moto.server import ThreadedMotoServer

from newsletter.local_ses import local_outbox, local_ses_prepare
from subscribers import ses


@pytest.fixture(scope="session")
def ses_endpoint(django_test_environment):
    """moto's SES server on a free loopback port; every test's mail path talks to it over HTTP."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    overrides = override_settings(SES_ENDPOINT_URL=url)
    overrides.enable()
    ses._cached_client.cache_clear()
    yield url
    overrides.disable()
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_services(ses_endpoint, settings):
    """Each test starts with an empty SES outbox and empty rate-limit counters."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{ses_endpoint}/moto-api/reset", method="POST"), timeout=10)
    local_ses_prepare(
        endpoint_url=ses_endpoint,
        region=settings.SES_REGION,
        sender=settings.DEFAULT_FROM_EMAIL,
        configuration_set=settings.SES_CONFIGURATION_SET,
    )
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
