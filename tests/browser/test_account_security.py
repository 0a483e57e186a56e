"""Account security in Chromium: registering with a known address, a forgotten password, and password guessing
refused on the shop's login and on the admin's."""

import re

import pytest
from playwright.sync_api import expect

from subscribers.models import User
from tests.browser.conftest import DESKTOP, STAFF_PASSWORD
from tests.browser.test_customer_journey import fill_registration
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"
RESET_LINK = re.compile(r"https?://\S+/accounts/password/reset/[^/\s]+/[^/\s]+/")


def log_in(page, email: str, password: str) -> None:
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_registering_with_an_address_that_has_an_account_looks_the_same_and_tells_its_owner(
    page, site_url, outbox
):
    # Given a customer with an account
    UserFactory(email="ada@mail.example", first_name="Augusta")

    # When someone registers with that address
    page.goto("/accounts/register/")
    fill_registration(
        page,
        first="Eve",
        last="Stranger",
        email="ada@mail.example",
        telephone="0121 496 0123",
        line1="1 Nowhere Street",
        postcode="B18 6AA",
        password="not-my-account-99",
    )
    page.get_by_role("button", name="Create account").click()

    # Then they see the page every registration lands on, and nothing says the address is taken
    expect(page).to_have_url(f"{site_url}/accounts/register/sent/")
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.locator("main")).to_contain_text("We have sent an email to ada@mail.example.")
    expect(page.locator("main")).not_to_contain_text("already")
    assert User.objects.get(email="ada@mail.example").first_name == "Augusta"
    # And the owner is told, with links to log in and to reset the password
    notice = outbox.last_to("ada@mail.example")
    assert notice.subject == "Someone tried to register with your address at Larkspur & Lune"
    assert f"{site_url}/accounts/password/reset/" in notice.text


def test_a_forgotten_password_from_the_login_page_to_a_new_one_logs_out_other_devices(
    page, chromium, site_url, outbox, screenshot
):
    # Given a customer logged in on another device
    UserFactory(email="clara@mail.example", first_name="Clara")
    other_device = chromium.new_context(viewport=DESKTOP, base_url=site_url, locale="en-GB")
    other = other_device.new_page()
    other.goto("/accounts/login/")
    log_in(other, "clara@mail.example", PASSWORD)
    expect(other).to_have_url(f"{site_url}/account/")

    # When they follow "Forgotten your password?" from the login page and ask for a link
    page.goto("/accounts/login/")
    screenshot(page, "A-10-login-with-reset-link")
    page.get_by_role("link", name="Forgotten your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    screenshot(page, "A-11-password-reset")
    page.get_by_label("Email address").fill("Clara@Mail.example")
    page.get_by_role("button", name="Email me a link").click()

    # Then the page says what happens, without saying whether the address has an account
    expect(page).to_have_url(f"{site_url}/accounts/password/reset/sent/")
    expect(page.locator("main")).to_contain_text("If an account logs in with that address")
    expect(page.locator("main")).to_contain_text("The link works once, for 2 hours.")
    screenshot(page, "A-12-password-reset-sent")

    # When the emailed link is opened, the token leaves the address bar
    message = outbox.last_to("clara@mail.example")
    assert message.subject == "Reset your Larkspur & Lune password"
    link = RESET_LINK.search(message.text).group(0)
    assert link.startswith(site_url)
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/accounts/password/reset/[^/]+/set-password/$"))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()

    # A weak password is refused beside its field
    page.get_by_label("New password", exact=True).fill("password")
    page.get_by_label("Confirm new password").fill("password")
    page.get_by_role("button", name="Save my new password").click()
    expect(page.locator(".field.has-error").filter(has=page.get_by_label("Confirm new password"))).to_contain_text(
        "This password is too common."
    )
    screenshot(page, "A-13-choose-new-password-error")

    # When a good one is saved
    page.get_by_label("New password", exact=True).fill("vermeil-brooch-1851")
    page.get_by_label("Confirm new password").fill("vermeil-brooch-1851")
    page.get_by_role("button", name="Save my new password").click()

    # Then it is done, the other device is logged out, and the new password logs in
    expect(page.get_by_role("heading", name="Your password has been changed")).to_be_visible()
    screenshot(page, "A-14-password-changed")
    other.goto("/account/")
    expect(other).to_have_url(f"{site_url}/accounts/login/?next=/account/")
    other_device.close()
    page.get_by_role("link", name="Log in").last.click()
    log_in(page, "clara@mail.example", "vermeil-brooch-1851")
    expect(page).to_have_url(f"{site_url}/account/")
    # And the link cannot be used twice
    page.goto(link)
    expect(page.get_by_role("heading", name="This link cannot be used")).to_be_visible()
    screenshot(page, "A-15-password-reset-link-used")


def test_guessing_passwords_pauses_the_account_on_the_shop_and_the_admin_login(page, site_url, settings, screenshot):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    UserFactory(email="clara@mail.example")
    User.objects.create_superuser(email="staff@larkspur-lune.example", password=STAFF_PASSWORD)

    # When someone tries three wrong passwords for one address on the shop's login page
    page.goto("/accounts/login/")
    for guess in ("guess-one", "guess-two"):
        log_in(page, "clara@mail.example", guess)
        expect(page.get_by_role("alert")).to_have_text("That email address and password do not match an account.")
    log_in(page, "clara@mail.example", "guess-three")

    # Then the page says plainly that logging in with it is paused, and for how long
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Too many unsuccessful attempts to log in with this email address.")
    expect(alert).to_contain_text("paused for 15 minutes")
    screenshot(page, "A-16-login-paused")
    # And even the right password is refused meanwhile
    log_in(page, "clara@mail.example", PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("alert")).to_contain_text("paused for")

    # The admin's login is guarded by the same limiter
    page.goto("/admin/login/")
    for guess in ("guess-one", "guess-two", "guess-three"):
        page.locator("input[name=username]").fill("staff@larkspur-lune.example")
        page.locator("input[name=password]").fill(guess)
        page.get_by_role("button", name="Sign in").click()
    expect(page.locator("main, body").first).to_contain_text(
        "Too many unsuccessful attempts to log in with this email address."
    )
    screenshot(page, "A-17-admin-login-paused")
    page.locator("input[name=username]").fill("staff@larkspur-lune.example")
    page.locator("input[name=password]").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/login/$"))
