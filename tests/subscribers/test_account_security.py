"""Account security over HTTP: password reset by email, and the limits on password guessing on both login pages."""

import re
import time
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from subscribers.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase 42"
RESET_LINK = re.compile(r"https?://\S+(/accounts/password/reset/[^/\s]+/[^/\s]+/)")


def reset_link(outbox, address: str) -> str:
    return RESET_LINK.search(outbox.last_to(address).text).group(1)


def ask_for_reset(address: str, client: Client | None = None, **extra):
    return (client or Client()).post("/accounts/password/reset/", {"email": address}, **extra)


# --- Password reset ------------------------------------------------------------------------------------------


def test_the_login_page_links_to_password_reset(client):
    page = client.get("/accounts/login/").content.decode()

    assert re.search(r'<a href="/accounts/password/reset/">Forgotten your password\?</a>', page)
    assert "Reset your password" in client.get("/accounts/password/reset/").content.decode()


def test_the_admin_logins_forgotten_password_leads_to_the_same_reset_which_emails_through_ses(
    client, run_on_commit, outbox
):
    # Wagtail's own reset would go through Django's send_mail, which nothing here delivers
    staff = UserFactory(email="staff@larkspur-lune.example", is_staff=True)
    login = client.get("/admin/login/").content.decode()
    assert 'href="/admin/password_reset/"' in login

    response = client.get("/admin/password_reset/", follow=True)
    assert response.redirect_chain == [("/accounts/password/reset/", 302)]
    with run_on_commit():
        ask_for_reset(staff.email)

    assert reset_link(outbox, staff.email).startswith("/accounts/password/reset/")
    assert mail.outbox == []


def test_a_reset_request_answers_the_same_for_known_and_unknown_addresses_and_emails_only_the_account(
    run_on_commit, outbox
):
    UserFactory(email="ada@mail.example", first_name="Ada")

    with run_on_commit():
        known = ask_for_reset(" ADA@mail.example ")
        unknown = ask_for_reset("nobody@mail.example")

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known["Location"] == "/accounts/password/reset/sent/"
    sent_page = Client().get(known["Location"]).content.decode()
    assert "If an account logs in with that address" in sent_page and "works once, for 2 hours" in sent_page
    (message,) = outbox.all()
    assert outbox.to("ada@mail.example") == [message]
    assert message.subject == "Reset your Larkspur & Lune password"
    assert "The link works once, for 2 hours." in message.text
    assert RESET_LINK.search(message.html)
    assert mail.outbox == [], "sent through SES by the transactional task, never Django's send_mail"


def test_a_reset_link_sets_a_new_password_once_and_logs_out_every_other_session(run_on_commit, outbox):
    # Given a customer logged in on another device, who asks for a reset
    user = UserFactory(email="ada@mail.example")
    elsewhere = Client()
    assert elsewhere.login(username="ada@mail.example", password=PASSWORD)
    assert elsewhere.get("/account/").status_code == 200
    with run_on_commit():
        ask_for_reset("ada@mail.example")
    link = reset_link(outbox, "ada@mail.example")

    # When the link is opened, the token leaves the address bar, and the form asks for the new password twice
    browser = Client()
    opened = browser.get(link)
    assert opened.status_code == 302 and opened["Location"].endswith("/set-password/")
    form_page = browser.get(opened["Location"]).content.decode()
    assert "Choose a new password" in form_page and "ada@mail.example" in form_page

    # A weak or mismatched password is refused beside its field and changes nothing
    weak = browser.post(opened["Location"], {"new_password1": "password", "new_password2": "password"})
    assert weak.status_code == 200 and "This password is too common." in weak.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)

    # When a good one is saved
    with run_on_commit():
        done = browser.post(opened["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    # Then the password changed, the other session ended, the person is told by email, and the link is dead
    assert done.status_code == 302 and done["Location"] == "/accounts/password/reset/done/"
    assert "Your password has been changed" in browser.get(done["Location"]).content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    gone = elsewhere.get("/account/")
    assert gone.status_code == 302 and gone["Location"].startswith("/accounts/login/")
    assert outbox.last_to("ada@mail.example").subject == "Your Larkspur & Lune password has been changed"
    again = Client().get(link, follow=True).content.decode()
    assert "This link cannot be used" in again
    assert Client().login(username="ada@mail.example", password=NEW_PASSWORD)


def test_a_reset_link_expires(client, settings):
    # Given a link made three hours ago (links last PASSWORD_RESET_TIMEOUT, two hours by default)
    class ThreeHoursAgo(PasswordResetTokenGenerator):
        def _now(self):
            return datetime.now() - timedelta(hours=3)

    user = UserFactory(email="ada@mail.example")
    token = ThreeHoursAgo().make_token(user)
    uid = urlsafe_base64_encode(force_bytes(user.pk))

    page = client.get(f"/accounts/password/reset/{uid}/{token}/", follow=True).content.decode()

    assert "This link cannot be used" in page and "for 2 hours" in page
    assert 'name="new_password1"' not in page


def test_reset_requests_are_rate_limited_per_address_and_per_client(settings, run_on_commit, outbox):
    settings.PASSWORD_RESET_RATE_PER_ADDRESS = "2/h"
    settings.PASSWORD_RESET_RATE_PER_IP = "4/h"
    UserFactory(email="ada@mail.example")

    with run_on_commit():
        same_address = [ask_for_reset("ada@mail.example", REMOTE_ADDR=f"192.0.2.{i}").status_code for i in range(3)]
        same_client = [ask_for_reset(f"p{i}@mail.example", REMOTE_ADDR="198.51.100.9").status_code for i in range(5)]

    assert same_address == [302, 302, 429]
    assert same_client == [302, 302, 302, 302, 429]
    assert len(outbox.to("ada@mail.example")) == 2
    assert "password reset requests" in ask_for_reset("ada@mail.example").content.decode()


def test_no_reset_email_for_an_account_without_a_usable_password(run_on_commit, outbox):
    user = UserFactory(email="sso@mail.example")
    user.set_unusable_password()
    user.save()

    with run_on_commit():
        response = ask_for_reset("sso@mail.example")

    assert response.status_code == 302
    assert outbox.all() == []


# --- Limits on password guessing -----------------------------------------------------------------------------


def login(client: Client, email: str, password: str, path: str = "/accounts/login/", **extra):
    return client.post(path, {"username": email, "password": password}, **extra)


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_IP = 6
    settings.LOGIN_FAILURE_WINDOW_MINUTES = 15
    settings.LOGIN_COOL_DOWN_MINUTES = 15
    return settings


def test_after_too_many_failures_an_account_is_paused_even_for_the_right_password(client, limits):
    UserFactory(email="ada@mail.example")

    statuses = [login(client, "ada@mail.example", f"guess {i}").status_code for i in range(3)]
    paused = login(client, "ada@mail.example", PASSWORD)

    assert statuses == [200, 200, 429], "the failure that reaches the limit already says so"
    assert paused.status_code == 429
    assert 0 < int(paused["Retry-After"]) <= 15 * 60
    html = paused.content.decode()
    assert "Too many unsuccessful attempts to log in with this email address" in html
    assert "paused for 15 minutes" in html
    assert "_auth_user_id" not in client.session
    # Another account from another network is not affected
    UserFactory(email="grace@mail.example")
    assert login(Client(), "grace@mail.example", PASSWORD, REMOTE_ADDR="192.0.2.50").status_code == 302


def test_the_refusal_is_the_same_for_an_address_without_an_account(limits):
    UserFactory(email="ada@mail.example")

    def paused_page(address: str, ip: str) -> tuple[int, str]:
        client = Client(REMOTE_ADDR=ip)
        for i in range(3):
            login(client, address, f"guess {i}")
        response = login(client, address, "guess again")
        return response.status_code, response.content.decode().replace(address, "ADDRESS")

    known = paused_page("ada@mail.example", "192.0.2.1")
    unknown = paused_page("nobody@mail.example", "192.0.2.2")

    assert known[0] == unknown[0] == 429
    strip_csrf = lambda html: re.sub(r'value="[^"]{64}"', "", html)  # noqa: E731
    assert strip_csrf(known[1]) == strip_csrf(unknown[1])


def test_the_cool_down_ends_by_itself(client, limits):
    limits.LOGIN_COOL_DOWN_MINUTES = 0.02  # about a second
    UserFactory(email="ada@mail.example")
    for i in range(3):
        login(client, "ada@mail.example", f"guess {i}")
    assert login(client, "ada@mail.example", PASSWORD).status_code == 429

    time.sleep(1.5)

    assert login(client, "ada@mail.example", PASSWORD).status_code == 302


def test_a_successful_login_forgets_earlier_failures(client, limits):
    UserFactory(email="ada@mail.example")
    for i in range(2):
        login(client, "ada@mail.example", f"guess {i}")
    assert login(client, "ada@mail.example", PASSWORD).status_code == 302
    client.logout()

    statuses = [login(client, "ada@mail.example", f"again {i}").status_code for i in range(2)]

    assert statuses == [200, 200]
    assert login(client, "ada@mail.example", PASSWORD).status_code == 302


def test_one_client_guessing_many_accounts_is_paused_at_the_higher_limit_per_ip(limits):
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    UserFactory(email="ada@mail.example")

    statuses = [login(attacker, f"person{i}@mail.example", "guess").status_code for i in range(6)]
    refused = login(attacker, "ada@mail.example", PASSWORD)

    assert statuses == [200] * 5 + [429]
    assert refused.status_code == 429
    assert "Too many unsuccessful login attempts from your network" in refused.content.decode()
    assert login(Client(REMOTE_ADDR="192.0.2.7"), "ada@mail.example", PASSWORD).status_code == 302


def test_the_admin_login_is_guarded_by_the_same_limiter(limits):
    staff = User.objects.create_superuser(email="staff@shop.example", password=PASSWORD)
    client = Client()

    # Failures on the shop's login page count for the admin's, and the other way round
    login(client, staff.email, "guess 1")
    admin_statuses = [login(client, staff.email, f"guess {i}", path="/admin/login/").status_code for i in (2, 3)]
    refused = login(client, staff.email, PASSWORD, path="/admin/login/")

    assert admin_statuses == [200, 429]
    assert refused.status_code == 429
    assert "Too many unsuccessful attempts to log in with this email address" in refused.content.decode()
    assert login(client, staff.email, PASSWORD).status_code == 429, "the shop's login is paused for it too"
    assert "_auth_user_id" not in client.session


def test_the_admin_login_still_logs_staff_in(limits):
    User.objects.create_superuser(email="staff@shop.example", password=PASSWORD)
    client = Client()

    response = login(client, "staff@shop.example", PASSWORD, path="/admin/login/")

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_resetting_the_password_ends_the_cool_down(client, limits, run_on_commit, outbox):
    UserFactory(email="ada@mail.example")
    for i in range(3):
        login(client, "ada@mail.example", f"guess {i}")
    assert login(client, "ada@mail.example", PASSWORD).status_code == 429

    with run_on_commit():
        ask_for_reset("ada@mail.example")
    browser = Client()
    form_url = browser.get(reset_link(outbox, "ada@mail.example"))["Location"]
    with run_on_commit():
        browser.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert login(client, "ada@mail.example", NEW_PASSWORD).status_code == 302
