"""A large audience on the send page in Chromium: counted in the background, the page updates itself, and the
count says how fresh it is.

The count goes admin request -> Redis -> a real Celery worker -> the cache; the page reloads itself until it is there.
"""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from campaigns.authoring.demo_content import campaign_index, demo_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

AUDIENCE = 60


def test_a_large_audience_is_counted_while_the_page_waits_and_then_shown_with_its_age(
    admin_page, site_url, settings, tmp_path, celery_worker, screenshot
):
    # Given a campaign whose topic holds more subscriptions than the page counts while it loads
    settings.MEDIA_ROOT = tmp_path
    settings.AUDIENCE_COUNT_INLINE_MAX = 10
    campaign_index()
    campaign = demo_campaign()
    call_command("seed_audience", count=AUDIENCE)
    page = admin_page

    # When the editor opens the send page
    page.goto(f"/admin/campaigns/{campaign.pk}/send/")

    # Then it says the audience is being counted, and sending waits for the count
    # (read from one copy of the page: it reloads itself, and the worker may already have answered)
    html = page.content()
    if "data-audience-counting" in html:
        assert "Counting the audience of about" in html
        assert "disabled" in html.split("data-send-now-form")[1].split("</form>")[0]
        screenshot(page, "41-campaign-send-counting")
    else:
        pytest.fail("the first view of a large audience should be drawn before its count is ready")

    # And without any click the page shows the count once the worker has made it, with its age
    expect(page.locator("[data-audience-eligible]")).to_contain_text(f"{AUDIENCE:,}", timeout=20_000)
    expect(page.locator("[data-audience-counted-at]")).to_contain_text("Counted")
    expect(page.locator("[data-audience-recount]")).to_be_visible()
    expect(page.get_by_role("button", name=f"Send to {AUDIENCE:,} now")).to_be_enabled()
    assert ("campaigns.tasks.audience_count_task", False) in celery_worker.tasks_run
    screenshot(page, "42-campaign-send-counted", reload=True)
