"""A privacy officer declares attributes in Subscribers > Attributes and sets a subscriber's values with a form that
fits each type, at desktop and phone widths; a bad declaration is refused beside its field."""

import pytest
from playwright.sync_api import expect

from subscribers.models import Attribute, AttributeType
from subscribers.selectors import subscriber_attribute_values
from subscribers.services.attributes import attribute_declare
from tests.factories import PRIVACY_OFFICERS, SubscriberFactory, staff_in_role

from .conftest import STAFF_PASSWORD, admin_login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_an_officer_declares_attributes_and_sets_a_subscribers_values(page, site_url, screenshot):
    # Given a privacy officer, logged in, two attributes already declared and one subscriber
    officer = staff_in_role(PRIVACY_OFFICERS, "officer@larkspur-lune.example")
    officer.set_password(STAFF_PASSWORD)
    officer.save()
    attribute_declare(key="birthday", label="Birthday", type=AttributeType.DATE, actor=None)
    attribute_declare(key="orders", label="Orders placed", type=AttributeType.NUMBER, position=1, actor=None)
    attribute_declare(key="vip", label="VIP customer", type=AttributeType.BOOLEAN, position=2, actor=None)
    person = SubscriberFactory(email="ada@mail.example", first_name="Ada")
    admin_login(page, site_url, officer.email)

    # When they declare a "one of a list" attribute with a key already taken, it is refused beside the key
    page.goto("/admin/attributes/")
    expect(page.get_by_role("link", name="Orders placed")).to_be_visible()
    screenshot(page, "90-attributes-list", reload=True)
    page.goto("/admin/attributes/new/")
    page.locator("#id_key").fill("orders")
    page.locator("#id_label").fill("Favourite metal")
    page.locator("#id_type").select_option("choice")
    page.locator("#id_choices").fill("Gold\nSilver\nPlatinum")
    page.locator("#id_position").fill("3")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("There is already an attribute with the key “orders”.")).to_be_visible()
    screenshot(page, "91-attributes-declare-error")
    page.locator("#id_key").fill("metal")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("link", name="Favourite metal")).to_be_visible()
    assert Attribute.objects.get(key="metal").choices == ["Gold", "Silver", "Platinum"]

    # And set the subscriber's values from their page, one field per type
    page.goto(f"/admin/subscriber/inspect/{person.pk}/")
    expect(page.get_by_role("heading", name="Attributes")).to_be_visible()
    page.get_by_role("link", name="Change attribute values").click()
    assert page.locator("#id_birthday").get_attribute("type") == "date"
    assert page.locator("#id_orders").get_attribute("type") == "number"
    page.locator("#id_orders").fill("1.1234567")
    page.locator("#id_birthday").fill("1990-02-28")
    page.locator("#id_vip").select_option("yes")
    page.locator("#id_metal").select_option("Silver")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("no more than 6 decimal places")).to_be_visible()
    assert subscriber_attribute_values(subscriber=person) == {}
    screenshot(page, "92-subscriber-attributes-form-error")
    page.locator("#id_orders").fill("12")
    page.get_by_role("button", name="Save").click()

    # Then their page shows the values
    expect(page.get_by_text("Saved: 4 values changed.")).to_be_visible()
    values = page.locator("[data-attribute-values]")
    expect(values).to_contain_text("1990-02-28")
    expect(values).to_contain_text("Silver")
    screenshot(page, "93-subscriber-attributes", reload=True)
    assert subscriber_attribute_values(subscriber=person)["orders"] == 12
