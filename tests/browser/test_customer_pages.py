"""Pages a customer reaches from emails and the account area, in Chromium: the unsubscribe page after a one-click
unsubscribe, the page behind a data-copy link, the banner after saving the preferences, the account menu on a
phone, and the site icon."""

import re
import time
import zipfile

import pytest
from playwright.sync_api import expect

from subscribers.links import preferences_url, unsubscribe_url
from subscribers.models import AccessExport, Subscriber, Subscription, SubscriptionStatus
from subscribers.selectors import third_party_objection_exists
from tests.browser.conftest import PHONE
from tests.factories import ConfirmedSubscriberFactory, SubscriptionFactory, TopicFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"  # the factories' password
EXPORT_LINK = re.compile(r"https?://\S+/account/privacy/export/[^/\s]+/")


def customer_with_account(email: str) -> Subscriber:
    """A customer whose account has proven its address, so it manages its mailing-list record."""
    user = UserFactory(email=email, first_name="Rosa")
    return ConfirmedSubscriberFactory(email=email, first_name="Rosa", user=user)


def log_in(page, site_url: str, email: str, next_path: str) -> None:
    page.goto(next_path)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site_url}{next_path}")


def test_unsubscribe_link_opened_after_a_one_click_unsubscribe_says_it_is_done_and_leads_back(
    page, site_url, screenshot
):
    # Given a confirmed subscriber on two lists, who left General Subscription with the mailbox's one-click button
    subscription = SubscriptionFactory(subscriber=ConfirmedSubscriberFactory(email="hazel@mail.example"))
    collections = SubscriptionFactory(subscriber=subscription.subscriber, topic=TopicFactory(name="New collections"))
    link = unsubscribe_url(subscription=subscription)
    one_click = page.request.post(link, form={"List-Unsubscribe": "One-Click"})
    assert one_click.status == 200
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED

    # When they open the unsubscribe link at the bottom of the email as well
    page.goto(link)

    # Then the page says it is done, offers no second Unsubscribe button, and names the list still received
    expect(page.get_by_role("heading", name="You are unsubscribed", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text(
        "This is already done: hazel@mail.example no longer receives General Subscription."
    )
    expect(page.get_by_role("button", name="Unsubscribe", exact=True)).to_have_count(0)
    expect(page.get_by_role("listitem")).to_have_text(["New collections"])
    screenshot(page, "B-01-unsubscribe-already-done")

    # When they stop everything that is left from that page
    page.get_by_role("button", name="Stop all marketing email").click()
    expect(page.locator("main")).to_contain_text("We will send no more marketing email to hazel@mail.example.")
    expect(page.locator("main")).not_to_contain_text("You still receive")
    collections.refresh_from_db()
    assert collections.status == SubscriptionStatus.UNSUBSCRIBED
    page.goto(link)
    expect(page.locator("main")).to_contain_text(
        "This is already done: we send no more marketing email to hazel@mail.example."
    )
    screenshot(page, "B-02-unsubscribe-everything-already-done")

    # And they can change their mind: the preferences page subscribes them again
    page.get_by_role("link", name="Manage your preferences").click()
    expect(page).to_have_url(preferences_url(subscriber=subscription.subscriber))
    page.get_by_label("General Subscription", exact=True).check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status")).to_contain_text("You are now subscribed to: General Subscription.")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_the_data_copy_link_opens_a_page_and_only_its_button_downloads_the_file(
    page, site_url, screenshot, email_wait, settings, tmp_path
):
    settings.ACCESS_EXPORT_ROOT = tmp_path / "exports"
    customer_with_account("rosa@mail.example")

    # Given a customer who asked for a copy of their data from Privacy and my data
    log_in(page, site_url, "rosa@mail.example", "/account/privacy/")
    page.get_by_role("button", name="Email me a copy of my data").click()
    expect(page.get_by_role("status")).to_contain_text("A download link will arrive at rosa@mail.example")
    link = EXPORT_LINK.search(email_wait("rosa@mail.example").text)[0]
    export = AccessExport.objects.get()

    # When they open the link from the email (in a fresh browser: no login is needed)
    page.context.clear_cookies()
    page.goto(link)

    # Then a page says what the copy is, how big, until when, and nothing is downloaded or recorded yet
    expect(page.get_by_role("heading", name="Your copy of your data", level=1)).to_be_visible()
    size = (settings.ACCESS_EXPORT_ROOT / export.file_name).stat().st_size
    expect(page.locator("dl")).to_contain_text("my-data.zip")
    expect(page.locator("dl")).to_contain_text("Link expires")
    expect(page.locator("dl")).to_contain_text("then the file is deleted")
    button = page.get_by_role("button", name=re.compile(r"^Download my data \(\d+(\.\d)?\s(bytes|KB)\)$"))
    expect(button).to_be_visible()
    export.refresh_from_db()
    assert export.downloaded_at is None
    screenshot(page, "B-03-data-copy-page")

    # When they press the button, the zip downloads and the page stays
    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename == "my-data.zip"
    with zipfile.ZipFile(download.path()) as archive:
        assert {"README.txt", "data.json", "subscriber.csv"} <= set(archive.namelist())
    assert download.path().stat().st_size == size
    expect(page).to_have_url(link)

    # Then the download is recorded (once the server has sent the last byte), and the page says when
    deadline = time.monotonic() + 10
    while AccessExport.objects.get(pk=export.pk).downloaded_at is None:
        assert time.monotonic() < deadline, "the completed download was not recorded"
        time.sleep(0.1)
    page.reload()
    expect(page.locator("dl")).to_contain_text("Downloaded")
    screenshot(page, "B-04-data-copy-page-downloaded")


def test_the_banner_after_saving_mentions_an_objection_to_sharing(page, site_url, screenshot):
    # Given a customer on General Subscription who has not objected to sharing
    subscriber = customer_with_account("ines@mail.example")
    SubscriptionFactory(subscriber=subscriber)
    log_in(page, site_url, "ines@mail.example", "/account/newsletter/")

    # When they tick the objection, and only that, and save
    page.get_by_label("Do not share my details with carefully selected third parties.").check()
    page.get_by_role("button", name="Save preferences").click()

    # Then the banner says the objection is saved, and it is
    expect(page.get_by_role("status")).to_have_text(
        "Your preferences are saved. "
        "Your objection to sharing is recorded: we will not share your details with third parties."
    )
    assert third_party_objection_exists(email="ines@mail.example")
    screenshot(page, "B-05-newsletter-objection-saved")

    # And saving a topic change later still says the objection stands
    page.get_by_label("General Subscription", exact=True).uncheck()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Your objection to sharing stays in place: we do not share your details with third parties."
    )
    assert Subscription.objects.get(subscriber=subscriber).status == SubscriptionStatus.UNSUBSCRIBED


def assert_across_the_screen(box: dict) -> None:
    """The element is wholly visible across a phone's width."""
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= PHONE["width"], box


def test_on_a_phone_the_account_menu_is_one_row_showing_the_current_page(page, site_url, screenshot):
    customer_with_account("tove@mail.example")
    page.set_viewport_size(PHONE)
    log_in(page, site_url, "tove@mail.example", "/account/privacy/")

    menu = page.get_by_role("navigation", name="Account pages")
    links = menu.get_by_role("link")
    expect(links).to_have_text(["Overview", "My details", "Newsletter Subscription", "Privacy and my data"])

    # One row: every tab at the same height, and the menu no taller than one tab (plus room for focus rings)
    boxes = [links.nth(i).bounding_box() for i in range(4)]
    assert len({round(box["y"]) for box in boxes}) == 1, boxes
    assert menu.bounding_box()["height"] < boxes[0]["height"] + 12
    # It scrolls sideways inside the page, which itself does not scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth") == PHONE["width"]
    assert menu.evaluate("nav => nav.scrollWidth > nav.clientWidth")
    # The current page's tab (the last one) is brought fully into view
    current = menu.locator("[aria-current=page]")
    expect(current).to_have_text("Privacy and my data")
    assert_across_the_screen(current.bounding_box())
    # Every tab can be reached from the keyboard, and a focused tab scrolls into view
    menu.get_by_role("link", name="Overview").focus()
    assert_across_the_screen(menu.get_by_role("link", name="Overview").bounding_box())
    # The first screen shows the page's heading right under the menu
    expect(page.get_by_role("heading", name="Privacy and my data", level=1)).to_be_in_viewport()
    screenshot(page, "B-06-account-menu")


def test_the_site_icon_is_linked_and_answered_at_favicon_ico(page, site_url):
    failures = []
    page.on("response", lambda response: response.status >= 400 and failures.append(response.url))

    page.goto("/")

    icons = page.locator("head link[rel=icon]")
    expect(icons).to_have_count(2)
    for href in [icons.nth(i).get_attribute("href") for i in range(2)]:
        answer = page.request.get(f"{site_url}{href}")
        assert answer.ok, href
        assert answer.headers["content-type"].startswith(("image/vnd.microsoft.icon", "image/svg+xml")), href
    assert page.request.get(f"{site_url}/favicon.ico").body()[:4] == b"\x00\x00\x01\x00"
    assert failures == []
