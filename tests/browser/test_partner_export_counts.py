"""A partner export of more than a thousand people in Chromium: every count on its pages has thousands separators,
as on the campaign pages."""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from subscribers.models import Disclosure, Partner

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_export_confirmation_the_log_and_the_disclosure_write_large_counts_with_separators(
    admin_page, screenshot
):
    # Given a partner and 1,250 people who may be shared with it
    Partner.objects.create(
        name="Fernhollow Engraving Co.",
        purpose="Offers of engraving and gift wrapping for jewellery bought from us",
        contract_reference="LL-DSA-2026-01",
    )
    call_command("seed_audience", count=1250)
    page = admin_page

    # When staff choose the partner and the topic
    page.goto("/admin/disclosures/partner-export/")
    page.get_by_label("Partner").select_option(label="Fernhollow Engraving Co.")
    page.get_by_label("Topic").select_option(label="General Subscription")
    page.get_by_role("button", name="Continue").click()

    # Then the confirmation counts them with a separator, on the page and on the button
    expect(page.locator("[data-included]")).to_have_text("1,250")
    expect(page.locator("[data-left-out-total]")).to_have_text("0")
    screenshot(page, "C-partner-export-confirm", reload=True)

    # And once exported, the log and the disclosure's page do too
    with page.expect_download():
        page.get_by_role("button", name="Export 1,250 people as CSV").click()
    disclosure = Disclosure.objects.get()
    assert disclosure.row_count == 1250
    page.goto("/admin/disclosures/")
    expect(page.locator(f"[data-disclosure='{disclosure.pk}'] [data-rows]")).to_have_text("1,250")
    screenshot(page, "C-disclosures-log", reload=True)
    page.goto(f"/admin/disclosures/{disclosure.pk}/")
    expect(page.locator("[data-rows]")).to_have_text("1,250")
    screenshot(page, "C-disclosure", reload=True)
