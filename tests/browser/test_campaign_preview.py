"""In Chromium: the campaign preview in Wagtail's editor (its own sizes, our inbox line above the email), and the
email as a web page, whose footer names the reader's own topics."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from campaigns.authoring.demo_content import demo_campaign
from campaigns.authoring.personalise import merge_values
from campaigns.authoring.rendering import campaign_render
from subscribers.models import Topic
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def media_served(page, site_url: str, media_root: Path) -> None:
    """The live server does not serve uploads (DEBUG is off in tests): answer image requests from MEDIA_ROOT, so
    screenshots show the email's images as an inbox would."""

    def fulfil(route):
        path = media_root / route.request.url.split("/media/", 1)[1]
        route.fulfill(path=str(path)) if path.is_file() else route.abort()

    page.context.route(f"{site_url}/media/**", fulfil)


def test_the_preview_uses_wagtails_sizes_and_shows_the_inbox_line_above_the_email(
    admin_page, site_url, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    campaign = demo_campaign()
    page = admin_page
    media_served(page, site_url, tmp_path)

    # Given the campaign open in the editor, with the preview panel open
    page.goto(f"/admin/pages/{campaign.pk}/edit/")
    page.get_by_role("button", name="Toggle preview").click()
    preview = page.frame_locator("#w-preview-iframe")

    # Then the preview starts with the inbox line: sender's name, subject for the sample reader, preheader
    line = preview.locator("[data-inbox-line]")
    expect(line.locator("[data-inbox-sender]")).to_have_text("Larkspur & Lune")
    expect(line.locator("[data-inbox-subject]")).to_have_text("Ada, the winter collection is here")
    preheader = "Hand-finished rings and pendants, in the workshop now."
    expect(line.locator("[data-inbox-preheader]")).to_have_text(preheader)
    expect(preview.get_by_role("heading", name="Made for the long evenings")).to_be_visible()

    # And the modes are what to look at, not widths: no phone frame of our own
    modes = page.locator("#id_preview_mode option")
    expect(modes).to_have_text(["Email", "Plain text", "Checklist"])
    expect(preview.locator("iframe")).to_have_count(0)

    # And at each of Wagtail's sizes the whole email fits inside the panel, nothing cut off
    panel = page.locator(".w-preview__area")
    for size in ("mobile", "tablet", "desktop"):
        page.get_by_label(f"Preview in {size} size").check()
        expect(page.locator("#w-preview-iframe")).to_be_visible()
        frame, area = page.locator("#w-preview-iframe").bounding_box(), panel.bounding_box()
        assert frame["x"] >= area["x"] - 1 and frame["x"] + frame["width"] <= area["x"] + area["width"] + 1, size
        assert frame["x"] + frame["width"] <= DESKTOP["width"], size
        page.screenshot(path=str(SCREENSHOTS / f"D-campaign-preview-panel-{size}.png"))
    expect(line.locator("[data-inbox-subject]")).to_be_visible()


def test_the_full_size_preview_lists_the_email_as_an_inbox_would_on_a_desktop_and_on_a_phone(
    admin_page, site_url, settings, tmp_path, screenshot
):
    settings.MEDIA_ROOT = tmp_path
    campaign = demo_campaign()
    page = admin_page
    media_served(page, site_url, tmp_path)
    page.goto(f"/admin/pages/{campaign.pk}/edit/")
    page.get_by_role("button", name="Toggle preview").click()
    expect(page.frame_locator("#w-preview-iframe").locator("[data-inbox-line]")).to_be_visible()

    # When the author opens the preview in a tab of its own (what Wagtail's "Preview in new tab" opens)
    page.goto(f"/admin/pages/{campaign.pk}/edit/preview/?mode=email")

    # Then on a desktop the inbox line is one row: sender, then subject and preheader
    sender, subject = page.locator("[data-inbox-sender]"), page.locator("[data-inbox-subject]")
    expect(subject).to_have_text("Ada, the winter collection is here")
    assert abs(sender.bounding_box()["y"] - subject.bounding_box()["y"]) < 4
    expect(page.locator(".nl-inbox-avatar")).to_be_hidden()
    screenshot(page, "D-campaign-preview-email")

    # And on a phone it stacks as a phone's inbox does: the sender's initial, sender, subject, preheader
    page.set_viewport_size(PHONE)
    expect(page.locator(".nl-inbox-avatar")).to_have_text("L")
    assert subject.bounding_box()["y"] > sender.bounding_box()["y"] + 10
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "nothing wider than the phone"


def test_the_email_as_a_web_page_names_the_readers_own_topics_in_its_footer(
    page, site_url, settings, tmp_path, screenshot
):
    settings.MEDIA_ROOT = tmp_path
    campaign = demo_campaign()
    media_served(page, site_url, tmp_path)
    general = Topic.objects.get(is_default=True)
    offers, journal = TopicFactory(name="Offers & Events", position=1), TopicFactory(name="Journal", position=2)
    campaign.topics.set([general, offers, journal])
    campaign.save_revision().publish()
    reader = SubscriptionFactory(topic=offers, subscriber__first_name="Noor")
    SubscriptionFactory(topic=journal, subscriber=reader.subscriber)
    url = merge_values(rendered=campaign_render(page=campaign), subscription=reader)["view_in_browser_url"]

    page.goto(re.sub(r"^https?://[^/]+", "", url))

    expect(page.locator("body")).to_contain_text("Dear Noor,")
    expect(page.locator("body")).to_contain_text(
        "You receive this email because you subscribed to Offers & Events and Journal from Larkspur & Lune."
    )
    expect(page.locator("body")).not_to_contain_text("General Subscription")
    screenshot(page, "D-view-in-browser-footer")
