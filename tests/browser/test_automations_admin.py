"""Staff in Chromium: the Automations menu, the demo's welcome series with where its people are, a step refused
with the reason, pause and resume through the confirmation dialog, and a new step added."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from automations.demo_content import welcome_series
from automations.models import AutomationRun, AutomationState, LeftReason, RunState
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS
from tests.factories import SubscriberFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_staff_read_the_welcome_series_pause_and_resume_it_and_add_a_step(admin_page, site_url, screenshot):
    # Given the demo's welcome series, with six people waiting after the first email and one who left at it
    automation = welcome_series(wait_seconds=120)
    for _ in range(6):
        AutomationRun.objects.create(
            automation=automation, subscriber=SubscriberFactory(), position=2, due_at=timezone.now()
        )
    AutomationRun.objects.create(
        automation=automation,
        subscriber=SubscriberFactory(),
        position=1,
        state=RunState.LEFT,
        left_reason=LeftReason.UNSUBSCRIBED,
        due_at=timezone.now(),
    )
    page = admin_page

    # When staff open Automations from the menu
    page.get_by_role("link", name="Automations").click()
    expect(page).to_have_url(f"{site_url}/admin/automations/")
    row = page.locator(f"[data-automation='{automation.pk}']")
    expect(row).to_contain_text("Welcome series")
    expect(row).to_contain_text("When someone confirms a subscription to General Subscription")
    expect(row.locator("[data-count='active']")).to_have_text("6")
    expect(row.locator("[data-count='left']")).to_have_text("1")
    screenshot(page, "A1-automations-list", reload=True)

    # Then the series' page lists its five steps, six people waiting at the first wait, and the locked steps
    row.get_by_role("link", name="Welcome series").click()
    expect(page.locator("#header-title")).to_have_text("Welcome series")
    steps = page.locator("[data-step]")
    expect(steps).to_have_count(5)
    expect(steps.nth(0).locator("[data-step-summary]")).to_have_text("Send “Welcome 1: from our bench to your inbox”")
    expect(steps.nth(1).locator("[data-step-summary]")).to_have_text("Wait 2 minutes")
    expect(steps.nth(1).locator("[data-step-people]")).to_contain_text("6")
    expect(steps.nth(0).locator("[data-step-locked]")).to_contain_text("7 people have reached or passed it")
    expect(steps.nth(1).locator("[data-step-locked]")).to_contain_text("6 people have reached or passed it")
    expect(steps.nth(2).get_by_role("link", name="Change")).to_be_visible()
    expect(page.locator("[data-people-count='active']")).to_have_text("6")
    screenshot(page, "A2-automation-welcome-series", reload=True)
    # The whole page at phone width in one image (the admin scrolls inside its own pane, so a tall window shows all)
    page.set_viewport_size({"width": PHONE["width"], "height": 3000})
    page.reload()
    page.screenshot(path=str(SCREENSHOTS / "A2-automation-welcome-series-phone-whole.png"))
    page.set_viewport_size(DESKTOP)
    page.reload()

    # And each email step links to its email's preview, rendered as subscribers get it
    steps.nth(0).get_by_role("link", name="Preview").click()
    expect(page.get_by_role("heading", name="Welcome to the workshop")).to_be_visible()
    expect(page.get_by_role("link", name="Unsubscribe")).to_be_visible()
    page.go_back()

    # When they pause it, answering the confirmation dialog
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("Paused. No step is taken until it is resumed")
    expect(page.locator("[data-automation-state='paused']")).to_be_visible()
    automation.refresh_from_db()
    assert automation.state == AutomationState.PAUSED
    screenshot(page, "A3-automation-paused", reload=True)

    # And resume it
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_contain_text("Resumed.")
    automation.refresh_from_db()
    assert automation.state == AutomationState.ACTIVE

    # When they add a wait without saying how long, the form names the field and nothing is added
    page.get_by_role("link", name="Add a step").click()
    expect(page.get_by_role("link", name="Write a new email")).to_have_attribute(
        "href", re.compile(r"/admin/pages/add/automations/automationemailpage/\d+/$")
    )
    expect(page.get_by_label("How long")).to_be_hidden()  # only the chosen kind's fields show
    screenshot(page, "A4-automation-step-email", reload=True)
    page.get_by_label("Wait", exact=True).check()
    expect(page.get_by_label("How long")).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_be_hidden()
    page.get_by_role("button", name="Save step").click()
    expect(page.locator(".error-message").first).to_contain_text("Say how long to wait")
    assert automation.steps.count() == 5
    screenshot(page, "A4-automation-step-error", reload=False)

    # And with a length, the step is added at the end
    page.get_by_label("How long").fill("1")
    page.get_by_label("Unit").select_option("days")
    page.get_by_role("button", name="Save step").click()
    expect(page.get_by_role("status")).to_contain_text("Step 6 saved: Wait 1 day.")
    expect(page.locator("[data-step]")).to_have_count(6)

    # And the automation's own form shows only the fields of its trigger until another is chosen
    page.get_by_role("link", name="Change name, topic or trigger").click()
    expect(page.locator("#id_name")).to_have_value("Welcome series")
    expect(page.get_by_label("Date attribute", exact=True)).to_be_hidden()
    screenshot(page, "A7-automation-edit", reload=True)
    page.get_by_label("An event sent through the API").check()
    expect(page.get_by_label("Event name", exact=True)).to_be_visible()
    expect(page.get_by_label("Date attribute", exact=True)).to_be_hidden()
