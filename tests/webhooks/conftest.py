from collections.abc import Iterator

import pytest

from subscribers.models import Partner
from webhooks.services import webhook_endpoint_create

from .receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver answering 200 to everything; change ``receiver.plan`` to make it fail."""
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def endpoint_for(receiver):
    """Make an endpoint posting to the receiver (the platform acting, no user), and give the receiver its secret."""

    def make(*, events=("subscriber.created",), **options):
        endpoint, secret = webhook_endpoint_create(
            user=None, name=options.pop("name", "CRM"), url=receiver.url, events=list(events), **options
        )
        receiver.secrets.append(secret)
        return endpoint

    return make


@pytest.fixture
def partner() -> Partner:
    return Partner.objects.create(name="Gem Club", purpose="Member offers", contract_reference="DSA-2026-07")
