"""Sending a campaign in Chromium: open "Send" from the editor, confirm, and watch the progress bar reach 100%.

The send goes admin request -> Redis -> a real Celery worker -> boto3 -> the local SES endpoint; the progress page
polls its JSON view and moves without a reload.
"""

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from campaigns.authoring.demo_content import campaign_index, demo_campaign
from campaigns.models import Delivery, DeliveryState, Send, SendState
from tests.browser.conftest import BAR_FULL

pytestmark = [
    pytest.mark.browser,
    # The live server and the worker see only committed rows; serialized_rollback brings back the rows that
    # migrations create (the default site, General Subscription) after the previous test's flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

AUDIENCE = 400
RATE = 40  # messages per second: about ten seconds in all, long enough to watch the bar move and to pause



def test_editor_confirms_a_send_and_watches_it_reach_every_subscriber(
    admin_page, site_url, settings, tmp_path, celery_worker, outbox, screenshot
):
    # Given a published campaign and a demo audience of a few hundred active subscribers
    settings.MEDIA_ROOT = tmp_path
    settings.SES_MAX_SEND_RATE = RATE
    settings.SEND_BATCH_SIZE = 25
    campaign_index()
    campaign = demo_campaign()
    call_command("seed_audience", count=AUDIENCE)
    page = admin_page

    # When the editor opens Send from the editor's actions menu
    page.goto(f"/admin/pages/{campaign.pk}/edit/")
    page.get_by_role("navigation", name="Actions", exact=True).get_by_role("button", name="Actions").click()
    page.get_by_role("link", name="Send", exact=True).click()
    expect(page).to_have_url(f"{site_url}/admin/campaigns/{campaign.pk}/send/")

    # Then the confirmation shows who receives it, who is left out, and the checklist
    expect(page.locator("[data-audience-eligible]")).to_contain_text(f"{AUDIENCE:,}")
    expect(page.locator("[data-excluded]")).to_contain_text("Pending confirmation")
    expect(page.locator("[data-checklist] [data-check=failed]")).to_have_count(0)
    screenshot(page, "40-campaign-send-confirm", reload=True)

    # When they send now
    page.get_by_role("button", name=f"Send to {AUDIENCE:,} now").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(site_url)}/admin/campaigns/sends/\d+/$"))
    expect(page.get_by_text(f"Sending to {AUDIENCE:,} subscribers.")).to_be_visible()
    send = Send.objects.get()

    # Then the bar moves without a reload and reaches 100%; the page then shows the results
    page.evaluate("window.__notReloaded = true")
    expect(page.locator("[data-progress-field=percent]")).not_to_have_text("0.0", timeout=20_000)
    assert page.evaluate("window.__notReloaded === true"), "the numbers moved without reloading the page"
    page.screenshot(path=str(screenshot_dir() / "41-campaign-send-progress-moving.png"))

    # When they pause it, then it stops and says so; when they resume it, it carries on
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Paused by staff")).to_be_visible()
    send.refresh_from_db()
    assert send.state == SendState.PAUSED
    screenshot(page, "41-campaign-send-paused", reload=True)
    # Cancelling asks first; answering "Cancel" to that question leaves the send as it was
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel send").click()
    assert questions and questions[0].startswith("Cancel this send?")
    send.refresh_from_db()
    assert send.state == SendState.PAUSED
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_text("Resumed.")).to_be_visible()
    # The bar is drawn full (its width is set by a class when the page is drawn, by the script while it polls)
    page.wait_for_function(BAR_FULL, timeout=60_000)
    expect(page.get_by_role("heading", name="Results")).to_be_visible(timeout=15_000)
    expect(page.locator("[data-progress-field=sent]")).to_have_text(f"{AUDIENCE:,}")
    expect(page.locator("[data-progress-field=percent]")).to_have_text("100.0")
    screenshot(page, "41-campaign-send-progress", reload=True)

    send.refresh_from_db()
    assert send.state == SendState.SENT
    assert set(send.deliveries.values_list("state", flat=True)) == {DeliveryState.SENT}
    assert len(outbox.all()) == AUDIENCE

    # And the Sends listing shows it
    page.goto("/admin/campaigns/sends/")
    expect(page.locator(f"[data-send='{send.pk}']")).to_contain_text(f"{AUDIENCE:,} sent of {AUDIENCE:,}")
    screenshot(page, "42-campaign-sends", reload=True)

    # When SES reports deliveries and a few bounces, and the editor opens the send's report
    rows = send.deliveries.order_by("pk")
    for row in rows[:390]:
        Delivery.objects.filter(pk=row.pk).update(delivered_at=row.finished_at + timedelta(seconds=3))
    for row in rows[390:393]:
        Delivery.objects.filter(pk=row.pk).update(bounce_type="permanent", bounced_at=row.finished_at)
    page.locator(f"[data-send='{send.pk}']").get_by_role("link", name="Report").click()

    # Then it shows the totals, small counts as "<5", and a chart with bars for both series
    expect(page.locator("[data-report=recipients]")).to_have_text(f"{AUDIENCE:,}")
    expect(page.locator("[data-report=delivered]")).to_have_text("390")
    expect(page.locator("[data-report=hard_bounced]")).to_have_text("<5")
    chart = page.locator("[data-report-chart]")
    expect(chart).to_be_visible()
    assert chart.locator(".send-chart__bar--delivered[height]").count() > 0
    assert chart.bounding_box()["height"] > 150, "the chart is drawn at a readable size"
    expect(page.locator("[data-report-links] tbody tr")).to_have_count(3)
    screenshot(page, "43-campaign-send-report", reload=True)


def screenshot_dir():
    from tests.browser.conftest import SCREENSHOTS

    return SCREENSHOTS
