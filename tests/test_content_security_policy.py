"""The Content-Security-Policy header each kind of page is sent, and our templates' part in keeping it strict: no
inline script, style or event handler outside the emails (Chromium checks the pages themselves:
tests/browser/test_content_security_policy.py)."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from campaigns.authoring.demo_content import demo_campaign
from campaigns.authoring.personalise import view_in_browser_token
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
