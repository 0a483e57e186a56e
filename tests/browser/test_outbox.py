"""In Chromium: the demo outbox after many emails. Newest first, 50 a page, searched by recipient, and a
confirmation email opened from it whose link confirms the subscription."""

import re

import pytest
from playwright.sync_api import expect

from mailer.ses import ses_send_raw
from subscribers.mail import message_build
from subscribers.models import ConsentSource, SubscriptionStatus, Topic
from subscribers.services import subscriber_get_or_create, subscription_request
from subscribers.wording import PUBLIC_SIGNUP
from tests.browser.conftest import PHONE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

READER = "noor.haddad@mail.example"


def test_staff_page_through_the_outbox_find_one_recipient_and_confirm_from_the_email(
    admin_page, site_url, screenshot
):
    # Given a confirmation email to one reader, then 60 campaign-like emails to others
    subscription_request(
        subscriber=subscriber_get_or_create(email=READER, first_name="Noor"),
        topics=[Topic.objects.get(is_default=True)],
        source=ConsentSource.PUBLIC_FORM,
        wording=PUBLIC_SIGNUP,
    )
    for n in range(60):
        to = f"customer{n:02d}@mail.example"
        raw = message_build(
            to=to, subject=f"Winter collection, note {n:02d}", text="Winter.", html="<p>Winter.</p>"
        )
        ses_send_raw(raw_message=raw, to=to)
    page = admin_page

    # When staff open the outbox
    page.goto("/outbox/")

    # Then the newest 50 are listed, newest first, with the way to older ones
    rows = page.locator("[data-outbox-row]")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("Winter collection, note 59")
    expect(page.locator("[data-outbox-count]")).to_contain_text("61 emails; 1 to 50 shown.")
    expect(page.get_by_text("Page 1 of 2")).to_have_count(2)  # above the list and below it
    screenshot(page, "D-outbox-list")

    # And the older ones are on the next page, the confirmation email last of all
    below = page.get_by_role("navigation", name="Pages of the outbox, below the list")
    below.get_by_role("link", name="Older →").click()
    expect(rows).to_have_count(11)
    expect(rows.last).to_contain_text(READER)

    # When they search for the reader by part of the address, in another case
    page.get_by_label("Recipient").fill("NOOR.h")
    page.get_by_role("button", name="Search").click()

    # Then only the reader's email is listed
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Please confirm your subscription to Larkspur & Lune")
    expect(page.locator("[data-outbox-count]")).to_contain_text("1 email to an address containing “NOOR.h”.")
    screenshot(page, "D-outbox-search")

    # When they open it, it shows rendered, from whom, to whom
    page.get_by_role("link", name="Please confirm your subscription to Larkspur & Lune").click()
    expect(page.get_by_role("heading", name="Please confirm your subscription to Larkspur & Lune")).to_be_visible()
    expect(page.locator(".outbox-meta")).to_contain_text(READER)
    email = page.frame_locator("iframe.outbox-frame")
    expect(email.get_by_role("link", name="Confirm my subscription")).to_be_visible()
    screenshot(page, "D-outbox-message")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "nothing wider than a phone"
    page.get_by_role("link", name="← Back to the outbox").click()
    expect(page.get_by_label("Recipient")).to_have_value("NOOR.h")
    page.go_back()

    # And its link, clicked in the outbox, opens the site's confirmation page, whose button confirms
    email.get_by_role("link", name="Confirm my subscription").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(site_url)}/newsletter/confirm/[^/]+/$"))
    expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    page.locator("main").get_by_role("button").click()
    expect(page.get_by_role("heading", name="Thank you, you are subscribed")).to_be_visible()
    subscription = Topic.objects.get(is_default=True).subscriptions.get(subscriber__email=READER)
    assert subscription.status == SubscriptionStatus.ACTIVE
