"""Privacy requests in Chromium: a privacy officer records a request that came by post and finds it on the list
with its deadline, marked overdue, beside the dashboard's counts."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect

from subscribers.models import RightsRequest, RightsRequestChannel, RightsRequestKind, User
from subscribers.services import rights_request_open
from tests.browser.conftest import admin_login
from tests.factories import ConfirmedSubscriberFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

OFFICER_EMAIL = "privacy@larkspur-lune.example"
PASSWORD = "hallmark-assay-office-1773"


@pytest.fixture
def officer_page(page, site_url):
    """A staff user with only the admin and the privacy-request permissions, logged in through the login form."""
    officer = User.objects.create_user(email=OFFICER_EMAIL, password=PASSWORD, first_name="Priya", is_staff=True)
    officer.user_permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"),
        *Permission.objects.filter(
            content_type__app_label="subscribers",
            codename__in=["view_rightsrequest", "add_rightsrequest", "change_rightsrequest"],
        ),
    )
    return admin_login(page, site_url, OFFICER_EMAIL, PASSWORD)


def test_officer_records_a_postal_request_and_sees_it_on_the_list_with_its_deadline(officer_page, site_url, screenshot):
    # Given a subscriber, and a request already open that is due within the week
    ConfirmedSubscriberFactory(email="margaret@mail.example")
    other = ConfirmedSubscriberFactory(email="harold@mail.example")
    due_soon = rights_request_open(
        kind=RightsRequestKind.ACCESS,
        channel=RightsRequestChannel.EMAIL,
        # 27 days ago: its deadline is one to six days away, whatever the month and weekday.
        received_on=timezone.localdate() - timedelta(days=27),
        subscriber=other,
    )
    page = officer_page
    page.reload()

    # The dashboard counts it
    panel = page.locator("section").filter(has=page.get_by_role("heading", name="Privacy requests"))
    expect(panel.locator("[data-count=open]")).to_have_text("1")
    expect(panel.locator("[data-count=due_soon]")).to_have_text("1")
    expect(panel.locator("[data-count=overdue]")).to_have_text("0")

    # When the officer opens Privacy requests from the menu and records a letter received on 31 January 2025
    page.get_by_role("link", name="Privacy requests", exact=True).first.click()
    expect(page).to_have_url(f"{site_url}/admin/privacy-requests/")
    page.get_by_role("link", name="Record a request").click()
    expect(page.get_by_label("Date received")).to_have_value(f"{timezone.localdate():%Y-%m-%d}")
    screenshot(page, "53-admin-record-privacy-request", reload=True)
    page.get_by_label("What they ask for").select_option("erasure")
    page.get_by_label("How it reached us").select_option("post")
    page.get_by_label("Date received").fill("2025-01-31")
    page.locator(".xdsoft_datetimepicker .xdsoft_date.xdsoft_current").click()  # as a person confirms it
    expect(page.locator(".xdsoft_datetimepicker")).to_be_hidden()
    page.get_by_label("Their email address").fill("Margaret@Mail.example")
    page.get_by_label("Note").fill("Letter dated 29 January")
    page.get_by_role("button", name="Record the request").click()

    # Then the request's page gives its deadline: 28 February 2025, a Friday
    request = RightsRequest.objects.get(subscriber__email="margaret@mail.example")
    expect(page).to_have_url(f"{site_url}/admin/privacy-requests/{request.pk}/")
    expect(page.locator(".messages")).to_contain_text("Recorded. Answer it by Friday 28 February 2025.")
    expect(page.locator("[data-person]")).to_have_text("margaret@mail.example")
    screenshot(page, "51-admin-privacy-request", reload=True)

    # The erasure button first explains what erasing means; going back leaves the person in place
    page.get_by_role("link", name="Erase this person now").click()
    expect(page.locator("main")).to_contain_text("This cannot be undone.")
    screenshot(page, "54-admin-erase-confirm", reload=True)
    page.get_by_role("link", name="No, go back").click()
    expect(page.locator("[data-person]")).to_have_text("margaret@mail.example")

    # And the list shows it first, overdue, above the one due soon
    page.get_by_role("link", name="All open requests").click()
    rows = page.locator("[data-rights-requests] tbody tr")
    expect(rows).to_have_count(2)
    cells = rows.nth(0).get_by_role("cell")
    expect(cells).to_have_text(
        ["Erasure", "Post", "Fri 31 Jan 2025", "Fri 28 Feb 2025", re.compile(r"Overdue by \d+ days")]
    )
    color = rows.nth(0).locator("[data-urgency=overdue]").evaluate("element => getComputedStyle(element).color")
    red, green, blue = (int(n) for n in re.findall(r"\d+", color)[:3])
    assert red > 150 and green < 100 and blue < 100, f"overdue should be in red text, is {color}"
    expect(rows.nth(1)).to_have_attribute("data-rights-request", str(due_soon.pk))
    expect(rows.nth(1).locator("[data-urgency=due_soon]")).to_have_text("Due soon")
    screenshot(page, "50-admin-privacy-requests", reload=True)

    # And the dashboard's counts include it as overdue
    page.goto("/admin/")
    expect(panel.locator("[data-count=open]")).to_have_text("2")
    expect(panel.locator("[data-count=overdue]")).to_have_text("1")
    screenshot(page, "52-admin-dashboard-privacy-requests", reload=True)
