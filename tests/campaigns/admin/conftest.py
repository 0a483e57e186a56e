"""Fixtures of the sending admin's tests."""

import pytest

from subscribers.models import SubscriptionStatus, SuppressionReason, SuppressionScope, Topic, User
from subscribers.services import suppression_add
from tests.factories import SubscriptionFactory

EDITOR_EMAIL = "editor@larkspur-lune.example"


@pytest.fixture
def editor_client(client):
    """A logged-in superuser: may edit, publish and send every campaign. The roles are tested in test_roles.py."""
    client.force_login(User.objects.create_superuser(email=EDITOR_EMAIL, password="unused-in-this-test"))
    return client


@pytest.fixture
def audience(campaign):
    """Four who may be mailed; two pending, one unsubscribed, one bounced, one who complained."""
    general = Topic.objects.get(is_default=True)
    eligible = [SubscriptionFactory(topic=general) for _ in range(4)]
    for _ in range(2):
        SubscriptionFactory(topic=general, status=SubscriptionStatus.PENDING)
    SubscriptionFactory(topic=general, status=SubscriptionStatus.UNSUBSCRIBED)
    bounced, complained = SubscriptionFactory(topic=general), SubscriptionFactory(topic=general)
    suppression_add(email=bounced.subscriber.email, scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)
    suppression_add(
        email=complained.subscriber.email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.COMPLAINT
    )
    return eligible
