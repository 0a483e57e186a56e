"""A privacy policy change in Chromium: staff publish a new version in the admin; a customer who registered before
it sees the notice on Account Home, reads the new policy, acknowledges it, and the notice is gone."""

import re

import pytest
from playwright.sync_api import expect

from subscribers.models import PolicyAcknowledgement, PrivacyPolicyVersion, User
from tests.browser.conftest import DESKTOP, admin_login
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

STAFF_EMAIL = "policy.editor@larkspur-lune.example"
PASSWORD = "hallmark-assay-office-1773"
ACKNOWLEDGE = "I\u2019ve read it"
SUMMARY = "We now keep order history for six years and say why."
POLICY_TEXT = (
    "Larkspur & Lune keeps your name, address and orders to run your account.\n\n"
    "We keep order history for six years, because the accounts law asks us to."
)


def _luminance(rgb: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(n) for n in re.findall(r"\d+", rgb)[:3])
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two computed CSS colours."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_staff_publish_a_version_and_the_customer_reads_and_acknowledges_the_notice(
    page, chromium, site_url, screenshot
):
    # Given a customer who registered under version 1.0, and a member of staff
    customer = UserFactory(email="clara@mail.example", first_name="Clara")
    User.objects.create_superuser(email=STAFF_EMAIL, password=PASSWORD, first_name="Petra", last_name="Lind")

    # When staff publish version 2.0 from the admin
    admin_login(page, site_url, STAFF_EMAIL, PASSWORD)
    page.goto("/admin/privacy-policy-versions/")
    page.get_by_role("link", name=re.compile("Add privacy policy version")).first.click()
    page.locator("#id_version").fill("1.5.0.0.0")
    page.locator("#id_summary").fill(SUMMARY)
    page.locator("#id_text").fill(POLICY_TEXT)
    page.get_by_role("button", name="Publish").click()
    # a malformed number is refused beside its field, and nothing is recorded
    expect(page.locator("main")).to_contain_text("is not a version number")
    assert PrivacyPolicyVersion.objects.count() == 1
    page.locator("#id_version").fill("2.0")
    screenshot(page, "60-admin-publish-policy-version", reload=False)
    page.get_by_role("button", name="Publish").click()

    # Then they land on its page: in force, who published it, and the announcement action
    policy = PrivacyPolicyVersion.objects.get(version="2.0")
    expect(page).to_have_url(f"{site_url}/admin/privacy-policy-versions/inspect/{policy.pk}/")
    expect(page.locator(".messages")).to_contain_text("Privacy policy 2.0 published and in force now.")
    expect(page.locator("[data-status]")).to_have_text("In force")
    expect(page.locator("[data-policy-details]")).to_contain_text("by Petra Lind")
    expect(page.get_by_role("button", name="Announce this change by email")).to_be_visible()
    screenshot(page, "61-admin-policy-version", reload=True)
    assert policy.published_by.email == STAFF_EMAIL

    # The list shows each version's status; neither is offered for editing
    page.goto("/admin/privacy-policy-versions/")
    rows = page.locator("table.listing tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("In force")
    expect(rows.nth(1)).to_contain_text("Superseded")
    expect(page.locator(f"a[href='/admin/privacy-policy-versions/edit/{policy.pk}/']")).to_have_count(0)
    screenshot(page, "65-admin-policy-versions", reload=True)

    # "Announce this change by email" opens a draft campaign in the page editor, to review and send as usual
    page.goto(f"/admin/privacy-policy-versions/inspect/{policy.pk}/")
    page.get_by_role("button", name="Announce this change by email").click()
    expect(page).to_have_url(re.compile(r"/admin/pages/\d+/edit/$"))
    expect(page.locator(".messages")).to_contain_text("Draft campaign")
    expect(page.locator("#id_subject")).to_have_value("We have updated our privacy policy (version 2.0)")
    screenshot(page, "66-admin-policy-announcement-draft", reload=True)

    # When the customer logs in (another browser) and visits Account Home
    context = chromium.new_context(viewport=DESKTOP, base_url=site_url, locale="en-GB")
    context.set_default_timeout(15_000)
    customer_page = context.new_page()
    try:
        customer_page.goto("/account/")
        customer_page.get_by_label("Email address").fill("clara@mail.example")
        customer_page.get_by_label("Password").fill("correct horse battery")
        customer_page.get_by_role("button", name="Log in").click()
        expect(customer_page).to_have_url(f"{site_url}/account/")

        # Then the notice says what changed, with a link and a real, focusable button with readable contrast
        notice = customer_page.get_by_role("region", name=re.compile("Our privacy policy changed on"))
        expect(notice).to_contain_text(SUMMARY)
        button = notice.get_by_role("button", name=ACKNOWLEDGE)
        button.focus()
        assert button.evaluate("element => document.activeElement === element")
        colours = button.evaluate(
            "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
        )
        assert contrast(*colours) >= 4.5, f"button contrast {contrast(*colours):.1f} for {colours}"
        text_colours = notice.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
        assert contrast(*text_colours) >= 4.5, f"notice contrast {contrast(*text_colours):.1f} for {text_colours}"
        screenshot(customer_page, "62-account-home-policy-notice")

        # When they open the policy, they read version 2.0 and what changed
        notice.get_by_role("link", name=re.compile("Read the new privacy policy")).click()
        expect(customer_page).to_have_url(f"{site_url}/privacy/2.0/")
        expect(customer_page.locator("[data-policy-status]")).to_contain_text("Version 2.0, in force since")
        expect(customer_page.locator(".policy-text")).to_contain_text("six years, because the accounts law")
        expect(customer_page.get_by_role("link", name="1.0", exact=True)).to_be_visible()
        screenshot(customer_page, "63-privacy-policy")

        # And acknowledge it from Account Home: recorded once, and the notice is gone
        customer_page.go_back()
        customer_page.get_by_role("button", name=ACKNOWLEDGE).click()
        expect(customer_page.get_by_role("status")).to_contain_text(
            "we have noted that you read privacy policy version 2.0"
        )
        expect(customer_page.get_by_role("region", name=re.compile("Our privacy policy changed"))).to_have_count(0)
        screenshot(customer_page, "64-account-home-after-acknowledging")
        customer_page.reload()
        expect(customer_page.locator("[data-policy-notice]")).to_have_count(0)
    finally:
        context.close()
    ack = PolicyAcknowledgement.objects.get()
    assert (ack.user_id, ack.version_id) == (customer.pk, policy.pk)
