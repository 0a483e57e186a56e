"""The Content-Security-Policy in Chromium: every main page, public and admin, is sent a policy and runs without a
single CSP violation (neither in the console nor as a ``securitypolicyviolation`` event), and a script injected
into a public page is refused."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from campaigns.authoring.demo_content import campaign_index, demo_campaign
from campaigns.authoring.personalise import view_in_browser_token
from campaigns.models import CampaignPage
from campaigns.sending.services import send_create, send_start
from subscribers.links import preferences_url, unsubscribe_url
from subscribers.models import User
from subscribers.services.imports.jobs import import_upload
from tests.browser.conftest import EDITOR_EMAIL, STAFF_PASSWORD, admin_login
from tests.factories import SubscriptionFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Installed before any page script runs, in every frame: each violation the browser reports as an event.
VIOLATION_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.__cspViolations.push(
        `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`
    );
});
"""


class ViolationWatch:
    """What the console said about Content Security Policy, and the violation events of every frame."""

    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        page.context.add_init_script(VIOLATION_LISTENER)
        page.on("console", self._console)

    def _console(self, message):
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.console.append(f"{message.type}: {text}")

    def check(self, name: str) -> list[str]:
        """Every violation seen on the page now open (and the console since the last check), named after it."""
        self.page.wait_for_load_state("load")
        self.page.wait_for_timeout(300)  # late ones: styles applied by scripts, a polling request
        events = []
        for frame in self.page.frames:
            try:
                events += frame.evaluate("window.__cspViolations || []")
            except Exception:  # noqa: S112 - a frame that went away while we asked
                continue
        found = [f"{name}: {line}" for line in self.console + events]
        self.console.clear()
        return found


def visit(page, watch, url: str, name: str) -> list[str]:
    response = page.goto(url)
    assert response.status < 400, f"{name}: {url} answered {response.status}"
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy, f"{name}: {url} was sent no Content-Security-Policy"
    return watch.check(name)


def test_the_main_pages_run_under_the_policy_without_a_single_violation(
    page, site_url, settings, tmp_path, screenshot
):
    # Given a published campaign, a customer with a subscription, a send and an import
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_FILE_ROOT = tmp_path / "imports"
    campaign_index()
    campaign = demo_campaign()
    customer = UserFactory(email="ada@customer.example")
    subscription = SubscriptionFactory(subscriber__email="ada@customer.example", subscriber__user=customer)
    staff = User.objects.create_superuser(email=EDITOR_EMAIL, password=STAFF_PASSWORD, first_name="Edith")
    send = send_start(send=send_create(page=CampaignPage.objects.get(pk=campaign.pk), user=staff))
    job = import_upload(
        upload=SimpleUploadedFile("people.csv", b"Email,First name\nann@mail.example,Ann\n"), created_by=staff
    )
    watch = ViolationWatch(page)
    violations = []

    # The public pages, before and after logging in
    for url, name in [
        ("/", "home"),
        ("/accounts/register/", "register"),
        ("/privacy/", "privacy policy"),
        ("/newsletter/subscribe/", "newsletter signup"),
        (preferences_url(subscriber=subscription.subscriber), "preferences"),
        (unsubscribe_url(subscription=subscription), "unsubscribe"),
        (f"/email/{view_in_browser_token(page_id=campaign.pk, revision_id=None, subscription=subscription)}/",
         "email web view"),
        ("/accounts/login/", "login"),
    ]:
        violations += visit(page, watch, url, name)
        if name == "email web view":
            screenshot(page, "E-csp-email-web-view")
    screenshot(page, "E-csp-login")
    page.locator("input[name=username]").fill("ada@customer.example")
    page.locator("input[name=password]").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site_url}/account/")
    violations += watch.check("account home")
    screenshot(page, "E-csp-account-home")
    violations += visit(page, watch, "/account/newsletter/", "newsletter subscription")
    screenshot(page, "E-csp-newsletter-subscription")
    page.context.clear_cookies()

    # The Wagtail admin: the dashboard, the page editor (with its live preview), and our own admin pages
    admin_login(page, site_url, EDITOR_EMAIL)
    violations += watch.check("dashboard")
    screenshot(page, "E-csp-dashboard", reload=True)
    violations += visit(page, watch, f"/admin/pages/{campaign.pk}/edit/", "page editor")
    page.get_by_role("button", name="Toggle preview").click()
    page.wait_for_timeout(1500)  # the preview panel loads the campaign in a frame
    violations += watch.check("page editor preview")
    screenshot(page, "E-csp-page-editor")
    for url, name in [
        (f"/admin/campaigns/{campaign.pk}/send-test/", "send test"),
        (f"/admin/campaigns/{campaign.pk}/send/", "send confirmation"),
        ("/admin/campaigns/sends/", "sends"),
        (f"/admin/campaigns/sends/{send.pk}/", "send progress"),
        ("/admin/subscriber-imports/", "imports"),
        (f"/admin/subscriber-imports/{job.pk}/columns/", "import columns"),
        ("/admin/privacy-requests/", "privacy requests"),
        ("/admin/disclosures/", "disclosures"),
    ]:
        violations += visit(page, watch, url, name)
        screenshot(page, f"E-csp-admin-{name.replace(' ', '-')}", reload=True)

    assert violations == [], "\n".join(violations)


def test_an_inline_script_on_a_public_page_is_refused_and_reported(page, site_url):
    watch = ViolationWatch(page)
    page.goto("/accounts/login/")

    # What an injected <script> would do: the policy refuses it, and the browser says so
    page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.__ran = true";
                   document.body.append(s); }"""
    )

    assert page.evaluate("window.__ran === true") is False
    assert any("script-src" in line for line in watch.check("login"))
