"""Settings > API keys in Chromium: make a key (shown once, with its warning), see it listed, revoke it."""

import pytest
from playwright.sync_api import expect

from api.models import ApiKey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_staff_make_see_and_revoke_an_api_key(admin_page, screenshot):
    page = admin_page
    page.goto("/admin/")
    page.get_by_role("button", name="Settings").click()
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()

    page.get_by_role("link", name="New API key").click()
    page.get_by_label("Name").fill("Shop checkout")
    page.get_by_label("Read subscribers and topics").check()
    page.get_by_label("Add subscribers and change their details and topics").check()
    page.get_by_role("button", name="Create the key").click()

    secret = page.locator("[data-api-key-secret]")
    expect(secret).to_be_visible()
    assert secret.inner_text().startswith(f"nlk_{ApiKey.objects.get().prefix}_")
    expect(page.get_by_text("it is shown only once")).to_be_visible()
    screenshot(page, "api-key-created")

    page.get_by_role("link", name="Back to API keys").click()
    row = page.locator("[data-api-key='Shop checkout']")
    expect(row).to_contain_text("subscribers:read")
    expect(row).to_contain_text("Never")
    screenshot(page, "api-keys", reload=True)

    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("[data-api-key='Shop checkout']")).to_contain_text("Revoked")
    assert ApiKey.objects.get().revoked_at is not None


def test_the_api_docs_page_runs_under_the_content_security_policy(page, screenshot):
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text else None)
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))

    page.goto("/api/v1/docs/")

    expect(page.get_by_text("/api/v1/subscribers/lookup/")).to_be_visible()
    assert violations == [] and failed == []
    screenshot(page, "api-docs")
