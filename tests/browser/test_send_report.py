"""A marketer reads a send in Chromium: the subject as recipients receive it, the time left just after a resume,
and the report's counts and rates, with small groups hidden and the reason given."""

import re
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from campaigns.authoring.demo_content import campaign_index, demo_campaign
from campaigns.models import Delivery, Send, SendState, TrackedLink
from campaigns.sending.services import send_create, send_start
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SUBJECT = "{{ first_name|Hello }}, the winter collection is here"
SAMPLES = ["Ada, the winter collection is here", "Hello, the winter collection is here"]


def section_screenshots(page, selector: str, name: str) -> None:
    """The admin scrolls inside its own layout, so a full-page screenshot shows only the top: scroll to a section
    and take it at desktop and phone widths."""
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.locator(selector).evaluate("element => element.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"))
    page.set_viewport_size(DESKTOP)


def test_the_report_shows_zero_as_zero_rates_and_why_a_small_group_is_hidden(
    admin_page, settings, tmp_path, outbox, screenshot
):
    # Given a finished send to 40 people: 36 delivered, 3 hard bounces, no complaint, clicks on two links
    settings.MEDIA_ROOT = tmp_path
    settings.SES_MAX_SEND_RATE = 1000
    campaign_index()
    call_command("seed_audience", count=40)
    send = send_start(send=send_create(page=demo_campaign()))  # tasks run inline: the whole send goes out here
    send.refresh_from_db()
    assert send.state == SendState.SENT
    rows = list(send.deliveries.order_by("pk"))
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:36]]).update(delivered_at=rows[0].finished_at)
    Delivery.objects.filter(pk__in=[r.pk for r in rows[36:39]]).update(
        bounce_type="permanent", bounced_at=rows[0].finished_at
    )
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:6]]).update(clicked_at=rows[0].finished_at)
    links = list(TrackedLink.objects.filter(send=send).order_by("position"))
    TrackedLink.objects.filter(pk=links[0].pk).update(clicks=1234)
    TrackedLink.objects.filter(pk=links[1].pk).update(clicks=3)
    page = admin_page

    # When the marketer opens the report
    page.goto(f"/admin/campaigns/sends/{send.pk}/report/")

    # Then the subject shows as written and as received
    expect(page.locator("[data-subject-source]")).to_have_text(SUBJECT)
    expect(page.locator("[data-subject-sample]")).to_have_text(SAMPLES)
    # And zero shows as zero, 1 to 4 as "<5"
    expect(page.locator("[data-report=recipients]")).to_have_text("40")
    expect(page.locator("[data-report=complained]")).to_have_text("0")
    expect(page.locator("[data-report=hard_bounced]")).to_have_text("<5")
    # and all clicks (1,237) less the link shown (1,234) would give the other link's 3: the total is hidden, saying why
    clicks = page.locator("[data-report=clicks]")
    expect(clicks).to_have_text("hiddenWould give away a link's small count")
    expect(clicks).to_have_attribute("title", re.compile("by subtraction"))
    # And the rates: out of 40 accepted; the bounce rate has 3 people behind it, so it is hidden, saying why
    rates = page.locator("[data-report-rates]")
    expect(rates.locator("[data-rate=delivered] dd")).to_have_text("90.0%")
    expect(rates.locator("[data-rate=complained] dd")).to_have_text("0%")
    bounced = rates.locator("[data-rate=bounced] dd")
    expect(bounced).to_contain_text("hidden")
    expect(bounced).to_have_attribute("title", re.compile(r"^Hidden: fewer than 5 people are behind this rate"))
    expect(bounced).to_contain_text("Fewer than 5 people behind it")  # on a phone, where there is no hover
    expect(rates.locator("[data-rate=clicked] dd")).to_have_text("15.0%")  # 6 of the 40 followed a link
    expect(page.locator("#rates-note")).to_contain_text("out of the 40 messages SES accepted")
    screenshot(page, "C-report-rates", reload=True)
    section_screenshots(page, "#rates-heading", "C-report-rates-section")


def _accepted(send) -> int:
    return Delivery.objects.filter(send=send, ses_message_id__gt="").count()


def test_just_after_a_resume_the_time_left_is_measured_over_the_seconds_spent_sending(
    admin_page, site_url, settings, tmp_path, celery_worker, outbox, screenshot
):
    # Given a send of 1,500 at 50 a second (30 seconds of sending), paused early for longer than the rate's window
    settings.MEDIA_ROOT = tmp_path
    settings.SES_MAX_SEND_RATE = 50
    settings.SEND_BATCH_SIZE = 25
    campaign_index()
    campaign = demo_campaign()
    call_command("seed_audience", count=1500)
    page = admin_page
    page.goto(f"/admin/campaigns/{campaign.pk}/send/")
    expect(page.locator("[data-subject-sample]")).to_have_text(SAMPLES)
    screenshot(page, "C-send-confirm-subject", reload=True)
    page.get_by_role("button", name="Send to 1,500 now").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(site_url)}/admin/campaigns/sends/\d+/$"))
    send = Send.objects.get()
    expect(page.locator("[data-progress-field=sent]")).not_to_have_text("0", timeout=20_000)
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Paused by staff")).to_be_visible()
    time.sleep(11)  # the whole ten-second window is now a pause

    # When they resume it
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_text("Resumed.")).to_be_visible()

    # Then the rate shown is the rate it is sending at (measured here from the ledger over the next seconds), not
    # diluted by the pause. Three seconds after the resume, seven of the window's ten seconds are still the pause:
    # measured over the whole window, the rate would read under a third of the true one and the time left would
    # run three times too long.
    eta = page.locator("[data-progress-field=eta_text]")
    expect(eta).not_to_have_text("\u2013", timeout=10_000)
    time.sleep(3)
    shown = float(page.locator("[data-progress-field=rate]").text_content())
    sent_before, started = _accepted(send), time.monotonic()
    time.sleep(3)
    true_rate = (_accepted(send) - sent_before) / (time.monotonic() - started)
    assert true_rate > 0 and shown >= 0.6 * true_rate, (shown, true_rate)
    expect(page.locator("[data-subject-sample]")).to_have_text(SAMPLES)
    screenshot(page, "C-progress-after-resume")
    history = [
        (event.action, event.created_at) for event in send.events.order_by("created_at")
    ]
    assert [action for action, _ in history] == ["paused", "resumed"]
    assert history[1][1] - history[0][1] > timedelta(seconds=10)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel send").click()
    expect(page.get_by_text("Cancelled.")).to_be_visible()
