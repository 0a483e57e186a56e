"""The Wagtail admin: the marketing team reads subscribers and consent history but cannot forge consent."""

import pytest
from django.urls import reverse

from subscribers.models import ConsentEvent, ConsentSource
from subscribers.services import subscription_withdraw
from tests.factories import SubscriptionFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def url(model: str, view: str, *args) -> str:
    return reverse(f"{model}:{view}", args=args)


def test_dashboard_shows_counts_per_topic(staff_client):
    TopicFactory(name="Private Sales")
    SubscriptionFactory.create_batch(3)

    html = staff_client.get("/admin/").content.decode()

    assert "Subscribers per topic" in html
    assert "<td>General Subscription</td><td>3</td><td>0</td>" in html
    assert "<td>Private Sales</td><td>0</td><td>0</td>" in html
    assert html.index("General Subscription") < html.index("Private Sales"), "the default topic comes first"


def test_consent_history_is_listed_and_cannot_be_added_edited_or_deleted_even_by_a_superuser(staff_client):
    subscription = SubscriptionFactory(subscriber__email="reader@mail.example")
    subscription_withdraw(subscription=subscription, source=ConsentSource.EMAIL_LINK)
    event = ConsentEvent.objects.get()

    listing = staff_client.get(url("consentevent", "index"))
    assert listing.status_code == 200
    assert "reader@mail.example" in listing.content.decode()
    assert url("consentevent", "add") not in listing.content.decode()

    for path in [
        url("consentevent", "add"),
        url("consentevent", "edit", event.pk),
        url("consentevent", "delete", event.pk),
    ]:
        response = staff_client.post(path, {"detail": "forged"})
        assert response.status_code in (302, 403), path
    assert ConsentEvent.objects.get().detail == ""
    assert ConsentEvent.objects.count() == 1


def test_subscriptions_cannot_be_changed_from_the_admin(staff_client):
    subscription = SubscriptionFactory(status="unsubscribed")

    staff_client.post(url("subscription", "edit", subscription.pk), {"status": "active"})

    subscription.refresh_from_db()
    assert subscription.status == "unsubscribed"


def test_topics_can_be_created_by_staff(staff_client):
    response = staff_client.post(
        url("topic", "add"), {"name": "Bridal", "slug": "bridal", "description": "", "is_active": "on", "position": "4"}
    )

    assert response.status_code == 302
    from subscribers.models import Topic

    assert Topic.objects.filter(name="Bridal", is_default=False).exists()


@pytest.mark.parametrize("model", ["subscription", "consentevent"])
def test_the_subscription_and_consent_listings_take_as_many_queries_for_20_rows_as_for_2(staff_client, model):
    """Each row names its subscriber and topic: fetched for the page, never one query per row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(url(model, "index")).status_code == 200
        return len(captured)

    for _ in range(2):
        subscription_withdraw(subscription=SubscriptionFactory(), source=ConsentSource.EMAIL_LINK)
    few = queries()
    for _ in range(18):
        subscription_withdraw(subscription=SubscriptionFactory(), source=ConsentSource.EMAIL_LINK)

    assert queries() == few


def test_the_subscription_listing_shows_the_newest_first(staff_client):
    first, *_, last = SubscriptionFactory.create_batch(3)

    html = staff_client.get(url("subscription", "index")).content.decode()

    assert html.index(last.subscriber.email) < html.index(first.subscriber.email)
