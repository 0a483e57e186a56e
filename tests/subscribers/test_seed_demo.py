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
