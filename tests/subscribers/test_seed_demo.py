"""The demo seed runs on an empty database, twice without harm, and leaves a usable demo."""

import pytest
from django.core.management import call_command

from subscribers.models import Subscriber, SubscriptionStatus, Topic, User

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_a_customer_who_manages_an_active_general_subscription_and_is_idempotent(outbox):
    call_command("seed_demo")
    call_command("seed_demo")

    customer = User.objects.get(email="ada@customer.example")
    assert customer.subscriber.subscriptions.get().status == SubscriptionStatus.ACTIVE
    assert User.objects.get(email="admin@larkspur-lune.example").is_superuser
    assert Topic.objects.count() == 4
    statuses = dict(Subscriber.objects.filter(user__isnull=True).values_list("email", "subscriptions__status"))
    assert statuses["alan@customer.example"] == "pending"
    assert statuses["edsger@customer.example"] == "unsubscribed"


def test_seed_demo_leaves_the_demo_customer_a_policy_notice_to_acknowledge(outbox):
    from subscribers.models import PrivacyPolicyVersion
    from subscribers.selectors import policy_notice_for, policy_version_current

    call_command("seed_demo")
    call_command("seed_demo")

    assert list(PrivacyPolicyVersion.objects.order_by("published_at").values_list("version", flat=True)) == [
        "1.0",
        "2.0",
    ]
    customer = User.objects.get(email="ada@customer.example")
    assert policy_notice_for(user=customer) == policy_version_current()
    assert policy_version_current().published_by.email == "admin@larkspur-lune.example"
