"""The Content-Security-Policy header each kind of page is sent, and our templates' part in keeping it strict: no
inline script, style or event handler outside the emails (Chromium checks the pages themselves:
tests/browser/test_content_security_policy.py)."""

import re
from pathlib import Path

import pytest
from csp.constants import NONCE, SELF
from csp.decorators import csp_update
from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.urls import reverse

from campaigns.authoring.demo_content import demo_campaign
from campaigns.authoring.personalise import view_in_browser_token
from newsletter.csp import ContentSecurityPolicyMiddleware
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
INLINE = re.compile(
    r"<style\b|<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")|\sstyle=\"|\son[a-z]+=\"|javascript:", re.I
)


def directives(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def test_public_and_account_pages_allow_only_this_origin_and_no_inline_code(client):
    client.force_login(UserFactory())
    for url in ("/", reverse("accounts:register"), reverse("newsletter:subscribe"), reverse("account:home")):
        policy = directives(client.get(url))

        assert policy["script-src"] == "'self'", url
        assert policy["style-src"] == "'self'", url
        assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'self'", url
        assert policy["form-action"] == "'self'" and policy["base-uri"] == "'self'", url


def test_the_admin_allows_the_inline_code_wagtail_needs_and_nothing_from_elsewhere(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    policy = directives(client.get("/admin/"))

    assert policy["script-src"] == "'self' 'unsafe-inline'"
    assert policy["style-src"] == "'self' 'unsafe-inline'"
    assert policy["connect-src"] == "'self' https://releases.wagtail.org"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'self'"


def test_an_email_shown_as_a_page_may_use_inline_styles_and_images_from_anywhere_but_runs_no_script(
    client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    campaign = demo_campaign()
    token = view_in_browser_token(page_id=campaign.pk, revision_id=None, subscription=None)

    policy = directives(client.get(f"/email/{token}/"))

    assert policy["script-src"] == "'none'"
    assert policy["style-src"] == "'self' 'unsafe-inline'"
    assert policy["img-src"] == "'self' data: https:"


def _policy_of(middleware_call, rf, path, view=lambda request: HttpResponse("ok")):
    request = rf.get(path)
    middleware = ContentSecurityPolicyMiddleware(view)
    middleware.process_request(request)
    return middleware_call(middleware, request, view(request)).get("Content-Security-Policy")


@pytest.mark.parametrize("path", ["/", "/newsletter/subscribe/", "/admin/", "/admin/campaigns/"])
def test_the_header_built_once_is_the_one_django_csp_builds_each_time(rf, path):
    ours = [_policy_of(ContentSecurityPolicyMiddleware.process_response, rf, path) for _ in range(2)]
    django_csp = _policy_of(CSPMiddleware.process_response, rf, path)

    assert ours == [django_csp, django_csp]


def test_a_changed_setting_changes_the_header_at_once(rf, settings):
    before = _policy_of(ContentSecurityPolicyMiddleware.process_response, rf, "/")
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}

    assert _policy_of(ContentSecurityPolicyMiddleware.process_response, rf, "/") == "default-src 'none'"
    assert "default-src 'self'" in before


def test_a_view_with_a_policy_of_its_own_or_a_nonce_is_still_given_its_own_header(rf, settings):
    @csp_update({"img-src": ["https://images.example"]})
    def own_policy(request):
        return HttpResponse("ok")

    def nonce_asked(request):
        str(request.csp_nonce)
        return HttpResponse("ok")

    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": [SELF, NONCE]}}
    updated = _policy_of(ContentSecurityPolicyMiddleware.process_response, rf, "/", own_policy)
    with_nonce = [_policy_of(ContentSecurityPolicyMiddleware.process_response, rf, "/", nonce_asked) for _ in range(2)]

    assert "img-src https://images.example" in updated
    assert all("'nonce-" in policy for policy in with_nonce)
    assert with_nonce[0] != with_nonce[1]  # a new nonce for each response, never a stored header


def test_a_debug_error_page_is_sent_no_policy_as_django_csp_leaves_it(rf, settings):
    settings.DEBUG = True

    def missing(request):
        return HttpResponse("missing", status=404)

    assert _policy_of(ContentSecurityPolicyMiddleware.process_response, rf, "/nowhere/", missing) is None


# Put into the email itself, so shown under the email policy (inline styles allowed, no scripts).
SHOWN_INSIDE_AN_EMAIL = {"campaigns/preview_inbox_line.html"}


def test_no_template_outside_the_emails_has_inline_script_style_or_event_handlers():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if path.relative_to(TEMPLATES).parts[0] == "emails":
            continue  # written for mail clients, which need inline styles; shown under the email policy
        if path.relative_to(TEMPLATES).as_posix() in SHOWN_INSIDE_AN_EMAIL:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if INLINE.search(line):
                found.append(f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()[:80]}")

    assert found == [], "\n".join(found)
