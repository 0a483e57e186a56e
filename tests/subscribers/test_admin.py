"""The Wagtail admin: the marketing team reads subscribers and consent history but cannot forge consent."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

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


def test_dashboard_counts_per_topic_are_kept_over_a_large_table_and_counted_again_when_old(
    staff_client, settings, django_capture_on_commit_callbacks
):
    from django.core.cache import cache
    from django.db import connection

    from subscribers.topic_counts import KEY

    if connection.vendor != "postgresql":
        pytest.skip("the size comes from PostgreSQL's statistics; elsewhere the panel always counts as it loads")
    # Given more subscriptions than the panel counts while the page loads (as PostgreSQL's statistics say)
    SubscriptionFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE subscribers_subscription")
    settings.TOPIC_COUNTS_INLINE_MAX = 2
    cache.delete(KEY)

    # When the dashboard is first opened: counted once while it loads, kept, and said to be counted
    html = staff_client.get("/admin/").content.decode()
    assert "<td>General Subscription</td><td>3</td><td>0</td>" in html
    assert "data-topic-counts-counted-at" in html

    # And when more people subscribe: the kept counts are shown while fresh, nothing is counted again
    SubscriptionFactory.create_batch(2)
    with django_capture_on_commit_callbacks() as none:
        html = staff_client.get("/admin/").content.decode()
    assert "<td>General Subscription</td><td>3</td><td>0</td>" in html and not none

    # Then once they are older than allowed, the page shows them and has them counted again in the background
    value, _ = cache.get(KEY)
    cache.set(KEY, (value, timezone.now() - timedelta(minutes=5)))
    with django_capture_on_commit_callbacks(execute=True) as recount:
        html = staff_client.get("/admin/").content.decode()
    assert "counting again now" in html and len(recount) == 1
    html = staff_client.get("/admin/").content.decode()
    assert "<td>General Subscription</td><td>5</td><td>0</td>" in html


def test_a_whole_address_is_found_through_the_address_index_and_anything_else_as_before(staff_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Given three subscribers, two of whom share a first name and a domain
    SubscriptionFactory(subscriber__email="ada@mail.example", subscriber__first_name="Ada")
    SubscriptionFactory(subscriber__email="ada.b@post.example", subscriber__first_name="Ada")
    SubscriptionFactory(subscriber__email="ben@mail.example", subscriber__first_name="Ben")

    def search(view: str, query: str) -> tuple[str, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            html = staff_client.get(url(view, "index"), {"q": query}).content.decode()
        return html, [q["sql"] for q in queries.captured_queries if "LIKE" in q["sql"].upper()]

    # When a whole address is searched, in any case and with spaces around it
    html, scans = search("subscriber", "  ADA@Mail.Example ")
    # Then it is found by the address itself (no LIKE over every row), and no one else is listed
    assert "ada@mail.example" in html and "ada.b@post.example" not in html and "ben@mail.example" not in html
    assert scans == []

    # And the subscriptions and consent history listings find the person's rows the same way
    html, scans = search("subscription", "ben@mail.example")
    assert "ben@mail.example" in html and "ada@mail.example" not in html and scans == []

    # When part of an address, a first name or an address nobody has is searched: every row is searched, as before
    assert "ada.b@post.example" in search("subscriber", "post.example")[0]
    html, scans = search("subscriber", "Ada")
    assert "ada@mail.example" in html and "ada.b@post.example" in html and "ben@mail.example" not in html
    html, scans = search("subscriber", "a.b@post")
    assert "ada.b@post.example" in html and scans, "an address no one has is searched for as part of one"


def test_a_large_listing_keeps_its_count_between_pages_and_counts_exactly_when_small(staff_client, settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the table's size comes from PostgreSQL's statistics; elsewhere every page counts")
    # Given three people who withdrew (three consent events), and statistics that say so
    for subscription in SubscriptionFactory.create_batch(3):
        subscription_withdraw(subscription=subscription, source=ConsentSource.EMAIL_LINK)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE subscribers_consentevent")

    def listed(**query) -> int:
        return staff_client.get(url("consentevent", "index"), query).context["paginator"].count

    # When the table counts as large: the first page counts, the next ones reuse that count for a minute
    settings.ADMIN_COUNT_KEPT_ABOVE = 2
    assert listed() == 3
    subscription_withdraw(subscription=SubscriptionFactory(), source=ConsentSource.EMAIL_LINK)
    assert listed() == 3, "kept: one count a minute, not one a page"
    html = staff_client.get(url("consentevent", "index")).content.decode()
    assert re.search(r"3 in all, counted \d+ seconds? ago", html), "a kept count says how old it is"
    assert listed(action="withdrawn", source="email_link") == 4, "another listing (filtered) is its own count"

    # When it is small: every page counts, and the page says no age
    settings.ADMIN_COUNT_KEPT_ABOVE = 100_000
    assert listed() == 4
    assert "4 in all\n" in staff_client.get(url("consentevent", "index")).content.decode()


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
