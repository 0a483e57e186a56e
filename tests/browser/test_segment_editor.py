"""A marketer builds a segment in the admin by clicking: a condition, then a nested group of two, watching the live
count change and an incomplete condition pointed at; saves it and reopens it intact, at desktop and phone widths,
with no Content Security Policy violation."""

import pytest
from playwright.sync_api import expect

from campaigns.segments.models import Segment
from subscribers.models import AttributeType
from tests.browser.test_content_security_policy import ViolationWatch
from tests.campaigns.segments.conftest import attribute, value
from tests.factories import SubscriberFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

NOT_COUNTED = "\u2013"  # an en dash
EXPECTED = {
    "all": [
        {"field": "attribute:country", "op": "equals", "value": "Scotland"},
        {
            "any": [
                {"field": "attribute:metal", "op": "equals", "value": "gold"},
                {"field": "attribute:metal", "op": "equals", "value": "silver"},
            ]
        },
    ]
}


def test_a_marketer_builds_a_segment_with_a_nested_group_by_clicking_and_reopens_it_intact(
    admin_page, screenshot
):
    page = admin_page
    watch = ViolationWatch(page)
    # Given four people: three in Scotland (gold, silver, platinum) and one in Wales (gold)
    country = attribute("country", AttributeType.TEXT)
    metal = attribute("metal", AttributeType.CHOICE, choices=["gold", "silver", "platinum"])
    for name, place, kind in (("Ada", "Scotland", "gold"), ("Bob", "Scotland", "silver"),
                              ("Cat", "Scotland", "platinum"), ("Dan", "Wales", "gold")):
        person = SubscriberFactory(first_name=name, email=f"{name.lower()}@mail.example")
        value(person, country, text=place)
        value(person, metal, text=kind)

    # When they open Segments from the menu and add one
    page.goto("/admin/")
    page.get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="Add a segment").click()
    page.get_by_label("Name").fill("Scots in gold or silver")
    count = page.locator("[data-count-number]")
    expect(count).to_have_text("4")  # no conditions: everyone
    expect(page.locator("textarea[name=definition]")).to_be_hidden()  # the tree replaces the JSON field

    # And add a condition: Country is Scotland
    root_actions = page.locator(".segment-group--root > .segment-group__actions")
    root_actions.get_by_role("button", name="Add condition").click()
    first = page.locator("[data-node=condition][data-path='all.0']")
    first.get_by_label("Field").select_option(label="Country")
    first.get_by_label("Operator").select_option(label="is")
    # an empty value is pointed at, beside the row, and not counted
    expect(first.locator("[data-error]")).to_contain_text("expected some text")
    expect(count).to_have_text(NOT_COUNTED)
    first.get_by_label("Value").fill("Scotland")
    expect(count).to_have_text("3")
    expect(first.locator("[data-error]")).to_be_hidden()

    # And a group "Any of these": Metal is gold, Metal is silver
    root_actions.get_by_role("button", name="Add group").click()
    group = page.locator("[data-node=group][data-path='all.1']")
    expect(group.get_by_label("Match").first).to_have_value("any")
    gold = group.locator("[data-path='all.1.any.0']")
    gold.get_by_label("Field").select_option(label="Metal")
    gold.get_by_label("Value").select_option("gold")
    expect(count).to_have_text("1")
    group.locator(":scope > .segment-group__actions").get_by_role("button", name="Add condition").click()
    silver = group.locator("[data-path='all.1.any.1']")
    silver.get_by_label("Field").select_option(label="Metal")
    silver.get_by_label("Value").select_option("silver")
    expect(count).to_have_text("2")
    # the superuser may see subscribers: five at most, newest first
    expect(page.locator("[data-sample-list] li")).to_have_count(2)
    expect(page.locator("[data-sample-list]")).to_contain_text("ada@mail.example (Ada)")
    expect(page.get_by_text("a segment alone is not the audience")).to_be_visible()
    screenshot(page, "S1-segment-editor")

    # Then saving it stores the tree they built
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Segment “Scots in gold or silver” saved.")).to_be_visible()
    segment = Segment.objects.get()
    assert segment.definition == EXPECTED
    row = page.locator(f"[data-segment='{segment.pk}']")
    expect(row).to_contain_text("Country is Scotland and (Metal is gold or Metal is silver)")
    expect(row.locator("[data-count]")).to_have_text("2")
    screenshot(page, "S2-segment-list", reload=True)

    # And reopening it shows the same rows, and the same count
    row.get_by_role("link", name="Scots in gold or silver").click()
    expect(count).to_have_text("2")
    first = page.locator("[data-path='all.0']")
    expect(first.get_by_label("Field")).to_have_value("attribute:country")
    expect(first.get_by_label("Value")).to_have_value("Scotland")
    expect(page.locator("[data-node=group][data-path='all.1']").get_by_label("Match").first).to_have_value("any")
    expect(page.locator("[data-path='all.1.any.0']").get_by_label("Value")).to_have_value("gold")
    expect(page.locator("[data-path='all.1.any.1']").get_by_label("Value")).to_have_value("silver")
    screenshot(page, "S3-segment-reopened", reload=True)

    # And removing a condition counts again; the page ran without a single CSP violation
    page.locator("[data-path='all.1.any.1']").get_by_role("button", name="Remove this condition").click()
    expect(count).to_have_text("1")
    assert watch.check("segment editor") == []
