"""The marketing team in Chromium: write a campaign in the real Wagtail editor, preview it, send a test, read it.

The test email goes admin request -> Redis -> a real Celery worker -> boto3 -> the local SES endpoint, as in
production; the test reads it back from that endpoint and shows its HTML in the browser for a screenshot.
"""

import re

import pytest
from playwright.sync_api import expect

from campaigns.authoring.demo_content import campaign_index
from campaigns.models import CampaignPage
from tests.browser.conftest import DESKTOP, SCREENSHOTS

pytestmark = [
    pytest.mark.browser,
    # The live server and the worker see only committed rows; serialized_rollback brings back the rows that
    # migrations create (the default site, General Subscription) after the previous test's flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TESTER = "tester@larkspur-lune.example"
SUBJECT = "{{ first_name|Hello }}, the spring atelier is open"



def editor_whole(page, name: str):
    """The whole editor in one image: the admin scrolls inside its own panes, so a full-page screenshot shows
    only the first screen; a tall window shows every field and block."""
    page.set_viewport_size({"width": DESKTOP["width"], "height": 2400})
    page.reload()
    expect(page.get_by_role("button", name="Save draft")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size(DESKTOP)
    page.reload()


def block_insert(page, label: str, *, index: int):
    """Append a block of type ``label`` to the body through the block chooser; return the new block's prefix."""
    page.get_by_role("button", name="Insert a block").last.click()
    page.get_by_role("option", name=label, exact=True).click()
    prefix = f"body-{index}-value"
    expect(page.locator(f"[name='body-{index}-type']")).to_have_value(label.lower())
    return prefix


def rich_text_type(page, *paragraphs: str, index: int):
    """Type paragraphs into the newest rich text block's Draftail editor, once it has the keyboard focus."""
    editor = page.locator("[data-contentpath='body'] .public-DraftEditor-content").last
    # The block chooser hands the focus back to its toggle as it closes: wait until the editor holds it.
    expect(page.locator("input[placeholder^='Search options']:visible")).to_have_count(0)
    editor.click()
    expect(editor).to_be_focused()
    for number, paragraph in enumerate(paragraphs):
        if number:
            page.keyboard.press("Enter")
        page.keyboard.type(paragraph)
    expect(editor).to_contain_text(paragraphs[-1])
    # Draftail copies its state into the form's hidden input a moment after typing stops: wait for it, or a
    # quick save would store the block empty.
    expect(page.locator(f"[name='body-{index}-value']")).to_have_value(re.compile(re.escape(paragraphs[-1])))


def test_author_writes_previews_and_test_sends_a_campaign(
    admin_page, site_url, celery_worker, email_wait, screenshot, settings
):
    # Wagtail's autosave (every 500 ms) can land just after "Save draft" with the form as it was a moment before,
    # which on a busy machine left the last block empty in the saved draft. This test is about explicit saves.
    settings.WAGTAIL_AUTOSAVE_INTERVAL = 0
    page = admin_page
    index = campaign_index()

    # Given the Campaigns menu item, which opens the campaign index in the page explorer
    page.get_by_role("link", name="Campaigns").click()
    expect(page).to_have_url(f"{site_url}/admin/pages/{index.pk}/")
    page.get_by_role("link", name="Add child page").first.click()
    expect(page).to_have_url(f"{site_url}/admin/pages/add/campaigns/campaignpage/{index.pk}/")

    # When the author fills in the envelope
    page.locator("#id_title").fill("Spring atelier")
    page.locator("#id_subject").fill(SUBJECT)
    page.locator("#id_preheader").fill("New pieces from the bench, and an evening of engraving.")
    page.get_by_label("General Subscription").check()

    # And builds the body from blocks: a heading, rich text with a merge field, a button, a divider, more text
    heading = block_insert(page, "Heading", index=0)
    page.locator(f"[name='{heading}-text']").fill("The spring atelier")
    page.locator(f"[name='{heading}-level']").select_option("h1")

    block_insert(page, "Text", index=1)
    rich_text_type(
        page,
        "Dear {{ first_name|friend }},",
        "Our bench is full of new work: fine chains, stacking rings and a few pieces in rose gold.",
        index=1,
    )

    button = block_insert(page, "Button", index=2)
    page.locator(f"[name='{button}-text']").fill("Book an engraving evening")
    page.locator(f"[name='{button}-link']").fill("https://shop.larkspur-lune.example/atelier")

    block_insert(page, "Divider", index=3)

    small_heading = block_insert(page, "Heading", index=4)
    page.locator(f"[name='{small_heading}-text']").fill("Free resizing all spring")
    page.locator(f"[name='{small_heading}-level']").select_option("h3")
    block_insert(page, "Text", index=5)
    rich_text_type(page, "Any ring bought from us, any year, resized at no charge.", index=5)

    # And saves a draft
    page.get_by_role("button", name="Save draft").click()
    # (Wagtail's autosave may have created the page while the author typed: then the save updates it.)
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Page 'Spring atelier' (created|has been updated)"))
    campaign = CampaignPage.objects.get(title="Spring atelier")
    expect(page).to_have_url(re.compile(rf"/admin/pages/{campaign.pk}/edit/$"))
    assert campaign.live is False and campaign.has_unpublished_changes
    draft = campaign.get_latest_revision_as_object()
    assert [block.block_type for block in draft.body] == ["heading", "text", "button", "divider", "heading", "text"]
    assert "Any ring bought from us" in draft.body.raw_data[5]["value"]
    screenshot(page, "30-campaign-editor", reload=True)
    editor_whole(page, "30-campaign-editor-whole")

    # Then the preview panel in the editor shows the real email for a sample reader
    page.get_by_role("button", name="Toggle preview").click()
    preview = page.frame_locator("#w-preview-iframe")
    expect(preview.get_by_role("heading", name="The spring atelier")).to_be_visible()
    expect(preview.locator("body")).to_contain_text("Dear Ada,")
    expect(preview.get_by_role("link", name="Book an engraving evening")).to_have_attribute(
        "href", "https://shop.larkspur-lune.example/atelier"
    )
    expect(preview.locator("[data-inbox-subject]")).to_have_text("Ada, the spring atelier is open")
    page.locator("#id_preview_mode").select_option("checks")
    expect(preview.locator("body")).to_contain_text("Before this campaign can be sent")

    # And the same preview, opened at full size, at desktop and at phone width
    preview_url = f"/admin/pages/{campaign.pk}/edit/preview/"
    page.goto(f"{preview_url}?mode=email")
    expect(page.get_by_role("heading", name="The spring atelier")).to_be_visible()
    expect(page.get_by_role("link", name="Unsubscribe")).to_be_visible()
    screenshot(page, "31-campaign-preview")

    # When the author opens Send test from the editor's actions menu
    page.goto(f"/admin/pages/{campaign.pk}/edit/")
    page.get_by_role("button", name="Actions", exact=True).click()
    page.get_by_role("link", name="Send test").click()
    expect(page).to_have_url(f"{site_url}/admin/campaigns/{campaign.pk}/send-test/")

    # Then the checklist shows every check passed
    checklist = page.locator("[data-checklist]")
    expect(checklist.get_by_role("listitem")).to_have_count(7)
    expect(checklist.locator("[data-check='passed']")).to_have_count(7)
    expect(page.locator("body")).to_contain_text("Every check passes.")

    # And a malformed address is refused, naming it, while nothing is sent
    addresses = page.get_by_label("Send a test to")
    addresses.fill(f"{TESTER}, not-an-address")
    page.get_by_role("button", name="Send test").click()
    expect(page.locator(".error-message, .w-field__errors").first).to_contain_text(
        "Not a valid email address: not-an-address"
    )

    # When the author sends to one good address
    addresses.fill(TESTER)
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status").get_by_text(f"Test sent to {TESTER}.")).to_be_visible()
    # The message shows once: keep it at desktop width, then both widths laid out afresh (the admin lays itself
    # out with JavaScript on load; the page was reached by a redirect, so reloading it sends nothing again).
    # Wagtail fades its messages in (opacity and position, over half a second): wait until it has arrived.
    page.wait_for_function(
        "() => { const list = document.querySelector('.messages > ul');"
        " const style = getComputedStyle(list); return style.opacity === '1' && style.top === '0px'; }"
    )
    page.screenshot(path=str(SCREENSHOTS / "33-campaign-send-test-sent.png"))
    screenshot(page, "33-campaign-send-test", reload=True)

    # Then the test arrives through the worker, marked [TEST], with the sample reader's fallbacks
    message = email_wait(TESTER)
    assert ("campaigns.tasks.campaign_test_send_task", False) in celery_worker.tasks_run
    assert message.subject == "[TEST] Hello, the spring atelier is open"
    assert "Dear friend," in message.text
    assert "The spring atelier" in message.html
    assert "https://shop.larkspur-lune.example/atelier" in message.html
    assert "Any ring bought from us, any year, resized at no charge." in message.html

    # And its HTML, shown in the browser, reads as the preview did
    page.set_content(message.html)
    expect(page.get_by_role("heading", name="The spring atelier")).to_be_visible()
    expect(page.get_by_role("link", name="Book an engraving evening")).to_be_visible()
    screenshot(page, "34-campaign-test-email")
