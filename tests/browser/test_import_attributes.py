"""The import's column step in Chromium offers a select per declared attribute, preselected from the header."""

import re

import pytest
from playwright.sync_api import expect

from subscribers.models import Attribute, AttributeType

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_column_step_offers_each_attribute_with_its_column_guessed_by_key_or_label(
    admin_page, site_url, settings, tmp_path, screenshot
):
    settings.IMPORT_FILE_ROOT = tmp_path / "imports"
    Attribute.objects.create(key="tier", label="Loyalty tier", type=AttributeType.CHOICE, choices=["Gold", "Silver"])
    Attribute.objects.create(key="birthday", label="Birthday", type=AttributeType.DATE)
    Attribute.objects.create(key="spend", label="Spend", type=AttributeType.NUMBER)
    path = tmp_path / "customers.csv"
    path.write_text(
        "E-mail address,First name,Consent date,Consent wording,LOYALTY TIER,birthday\n"
        "ann@mail.example,Ann,2026-04-18,Send me news,gold,1990-02-28\n",
        encoding="utf-8",
    )
    page = admin_page

    page.goto(f"{site_url}/admin/subscriber-imports/")
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Upload and choose the columns").click()

    expect(page).to_have_url(re.compile(rf"{re.escape(site_url)}/admin/subscriber-imports/\d+/columns/$"))
    expect(page.get_by_label("Loyalty tier (attribute)")).to_have_value("LOYALTY TIER")
    expect(page.get_by_label("Birthday (attribute)")).to_have_value("birthday")
    expect(page.get_by_label("Spend (attribute)")).to_have_value("")
    screenshot(page, "85-import-attribute-columns", reload=True)
