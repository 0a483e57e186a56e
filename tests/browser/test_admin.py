"""Staff in the Wagtail admin: the dashboard's per-topic counts and the read-only consent history."""

import re

import pytest
from playwright.sync_api import expect

from subscribers.models import ConsentSource, SubscriptionStatus
from subscribers.services import subscription_withdraw
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]




@pytest.fixture
def subscriptions():
    """General Subscription: 3 active, 2 awaiting confirmation, 1 withdrawn; Bridal: 1 active."""
    general = [SubscriptionFactory(subscriber__email=f"active{n}@mail.example") for n in range(4)]
    for n in range(2):
        SubscriptionFactory(subscriber__email=f"pending{n}@mail.example", status=SubscriptionStatus.PENDING)
    SubscriptionFactory(subscriber=general[0].subscriber, topic=TopicFactory(name="Bridal", position=1))
    subscription_withdraw(subscription=general[3], source=ConsentSource.EMAIL_LINK, reason="too_many")
    return general


def test_dashboard_shows_subscribers_per_topic(subscriptions, admin_page, screenshot):
    panel = admin_page.locator("section").filter(has=admin_page.get_by_role("heading", name="Subscribers per topic"))
    expect(panel).to_be_visible()
    expect(panel.get_by_role("columnheader")).to_have_text(["Topic", "Active", "Awaiting confirmation", "Download"])
    expect(panel.get_by_role("row").filter(has_text="General Subscription").get_by_role("cell")).to_have_text(
        ["General Subscription", "3", "2", "CSV"]
    )
    expect(panel.get_by_role("row").filter(has_text="Bridal").get_by_role("cell")).to_have_text(
        ["Bridal", "1", "0", "CSV"]
    )
    # Each topic's CSV downloads from the panel
    with admin_page.expect_download() as download:
        panel.get_by_role("row").filter(has_text="Bridal").get_by_role("link", name="CSV").click()
    assert re.fullmatch(r"[\w-]+-subscribers-\d{4}-\d{2}-\d{2}\.csv", download.value.suggested_filename)
    screenshot(admin_page, "20-admin-dashboard", reload=True)


def test_consent_history_lists_events_and_offers_no_way_to_add_one(subscriptions, admin_page, site_url, screenshot):
    # When staff open Subscribers > Consent history from the menu
    admin_page.get_by_role("button", name="Subscribers").click()
    admin_page.get_by_role("link", name="Consent history").click()

    # Then the withdrawal is listed, with who and how
    expect(admin_page).to_have_url(f"{site_url}/admin/consentevent/")
    expect(admin_page.get_by_role("heading", name="Consent history", level=1)).to_be_visible()
    row = admin_page.get_by_role("row").filter(has_text="active3@mail.example")
    expect(row).to_contain_text("Consent withdrawn")
    expect(row).to_contain_text("Link in an email")
    expect(row).to_contain_text("General Subscription")
    screenshot(admin_page, "21-admin-consent-history", reload=True)

    # And there is no button to add an event, and the add address itself is refused
    expect(admin_page.get_by_role("link", name="Add", exact=False)).to_have_count(0)
    listing_url = admin_page.url
    admin_page.goto(listing_url.rstrip("/") + "/new/")
    expect(admin_page).to_have_url(f"{site_url}/admin/")
    expect(admin_page.locator("body")).to_contain_text("Sorry, you do not have permission to access this area.")

    # While a listing staff may add to (topics) does show its Add button, so the check above can see one
    admin_page.goto("/admin/topic/")
    expect(admin_page.get_by_role("link", name="Add topic")).to_be_visible()
