"""Attributes: declaring, changing and deleting them, and setting a person's values through the one service that
the admin and the API use; each value parsed by its type, all or nothing, logged without values."""

from datetime import date
from decimal import Decimal

import pytest
from wagtail.models import ModelLogEntry

from subscribers.attributevalues import AttributeValueProblem, attribute_value_parse
from subscribers.errors import ActionForbidden
from subscribers.models import Attribute, AttributeType, AttributeValue
from subscribers.selectors import subscriber_attribute_values
from subscribers.services.attributes import (
    AttributeDeclarationError,
    AttributeInUse,
    AttributeValuesInvalid,
    attribute_declare,
    attribute_delete,
    attribute_update,
    subscriber_attributes_set,
)
from tests.factories import EDITORS, PRIVACY_OFFICERS, SubscriberFactory, UserFactory, staff_in_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer():
    return staff_in_role(PRIVACY_OFFICERS, "officer@jeweller.example")


@pytest.fixture
def declared(officer) -> dict[str, Attribute]:
    """One attribute of each type."""
    return {
        key: attribute_declare(key=key, label=label, type=type, choices=choices, actor=officer)
        for key, label, type, choices in (
            ("town", "Town", AttributeType.TEXT, None),
            ("orders", "Orders placed", AttributeType.NUMBER, None),
            ("birthday", "Birthday", AttributeType.DATE, None),
            ("vip", "VIP", AttributeType.BOOLEAN, None),
            ("tier", "Tier", AttributeType.CHOICE, ["Silver", "Gold"]),
        )
    }


def values_of(subscriber) -> dict:
    return subscriber_attribute_values(subscriber=subscriber)


def test_values_of_every_type_are_parsed_and_stored_in_their_typed_columns(declared, officer):
    person = SubscriberFactory()
    changed = subscriber_attributes_set(
        subscriber=person,
        values={"town": "  Bath ", "orders": "12.50", "birthday": "1990-02-28", "vip": "Yes", "tier": "gold"},
        actor=officer,
        source="admin",
    )
    assert changed == ["birthday", "orders", "tier", "town", "vip"]
    assert values_of(person) == {
        "town": "Bath",
        "orders": Decimal("12.5"),
        "birthday": date(1990, 2, 28),
        "vip": True,
        "tier": "Gold",
    }
    row = AttributeValue.objects.get(subscriber=person, attribute=declared["orders"])
    assert (row.number, row.text, row.date, row.boolean) == (Decimal("12.5"), "", None, None)


@pytest.mark.parametrize(
    "key, raw, message",
    [
        ("birthday", "31/02/1990", "birthday: '31/02/1990' is not a date (use YYYY-MM-DD)."),
        ("birthday", "1990-02-31", "birthday: '1990-02-31' is not a date (use YYYY-MM-DD)."),
        ("orders", "12,5", "orders: '12,5' is not a number (use digits and a point, like 1250.50)."),
        ("orders", "0.1234567", "orders: '0.1234567' has more than 6 decimal places."),
        # 29 significant digits: Decimal's own rounding (28) must not pass it as 1
        ("orders", "1.0000000000000000000000000001", "orders: '1.0000000000000000000000000001' has more than 6"),
        ("orders", "1" + "0" * 18, "orders: '1000000000000000000' is too large (at most 18 digits before the point)."),
        ("orders", True, "orders: 'True' is not a number."),
        ("vip", "maybe", "vip: 'maybe' is not yes or no (use yes, no, true, false, 1 or 0)."),
        ("tier", "Bronze", "tier: 'Bronze' is not one of the choices (Silver, Gold)."),
        ("town", "Bath\nWells", "town: the value must be on one line: it contains a line break."),
        ("town", "x" * 256, "town: the value is longer than 255 characters."),
        ("town", "Ba\x07th", "town: the value contains control characters that cannot be used."),
        ("nickname", "Jo", "nickname: there is no attribute with this key (the attributes are: "),
    ],
)
def test_a_bad_value_is_refused_naming_its_key_and_what_is_wrong(declared, officer, key, raw, message):
    person = SubscriberFactory()
    with pytest.raises(AttributeValuesInvalid) as caught:
        subscriber_attributes_set(subscriber=person, values={key: raw}, actor=officer, source="admin")
    assert str(caught.value).startswith(message)
    assert caught.value.field == f"attributes.{key}"
    assert not AttributeValue.objects.exists()


@pytest.mark.parametrize(
    "written",
    [
        "999999999999999999.999999",  # the largest the column holds
        "000000000000000000000012.5",  # leading zeros are no digits
        "1.5000000",  # nor are trailing ones after the point
        "-.5",
        "5.",
        "0.0000000",
        "1000000000000000000",  # 19 digits: too large
        "-1000000000000000000.5",
        "0.0000001",  # 7 places: too many
        "12.3456789",
        "1.\u0660\u0660\u0660\u0660\u0660\u0660\u0660",  # Arabic-Indic zeros after the point, as Decimal reads them
        "\u0660" * 19 + "1",  # and before it
        "1." + "0" * 28 + "1",  # past Decimal's 28 digits, which its arithmetic rounds
        "999999999999999999.99999999999999",
    ],
)
def test_a_number_written_as_text_is_judged_as_the_same_number_given_as_a_number(written):
    # A CSV cell and a form field are text, read off their digits; the API's JSON numbers go through Decimal.
    # Both ways must take and refuse the same numbers, with the same words.
    orders = Attribute(key="orders", label="Orders", type=AttributeType.NUMBER)

    def outcome(raw):
        try:
            return attribute_value_parse(orders, raw)
        except AttributeValueProblem as problem:
            return str(problem).replace(repr(written), "").replace(repr(str(Decimal(written))), "")

    assert outcome(written) == outcome(Decimal(written))


def test_an_address_given_as_a_value_is_not_repeated_in_the_error(declared, officer):
    with pytest.raises(AttributeValuesInvalid) as caught:
        subscriber_attributes_set(
            subscriber=SubscriberFactory(), values={"vip": "zoe@example.com"}, actor=officer, source="api"
        )
    assert "zoe@example.com" not in str(caught.value)


def test_one_bad_value_changes_nothing_and_every_problem_is_reported(declared, officer):
    person = SubscriberFactory()
    subscriber_attributes_set(subscriber=person, values={"town": "Bath"}, actor=officer, source="admin")
    with pytest.raises(AttributeValuesInvalid) as caught:
        subscriber_attributes_set(
            subscriber=person,
            values={"town": "Wells", "orders": "many", "birthday": "yesterday"},
            actor=officer,
            source="admin",
        )
    assert set(caught.value.problems) == {"orders", "birthday"}
    assert values_of(person) == {"town": "Bath"}


def test_none_or_an_empty_string_clears_a_value_and_other_values_are_kept(declared, officer):
    person = SubscriberFactory()
    subscriber_attributes_set(
        subscriber=person, values={"town": "Bath", "vip": False, "orders": 3}, actor=officer, source="admin"
    )
    changed = subscriber_attributes_set(
        subscriber=person, values={"town": "", "vip": None}, actor=officer, source="admin"
    )
    assert changed == ["town", "vip"]
    assert values_of(person) == {"orders": Decimal(3)}


def test_setting_the_same_value_again_changes_nothing_and_logs_nothing(declared, officer):
    person = SubscriberFactory()
    subscriber_attributes_set(subscriber=person, values={"orders": "3"}, actor=officer, source="admin")
    entries = ModelLogEntry.objects.filter(action="subscribers.attributes_set").count()
    assert subscriber_attributes_set(subscriber=person, values={"orders": "3.000"}, actor=officer, source="api") == []
    assert ModelLogEntry.objects.filter(action="subscribers.attributes_set").count() == entries


def test_the_audit_log_names_the_actor_the_source_and_the_keys_never_the_values(declared, officer):
    person = SubscriberFactory()
    subscriber_attributes_set(
        subscriber=person, values={"birthday": "1990-02-28", "town": "Bath"}, actor=officer, source="admin"
    )
    entry = ModelLogEntry.objects.get(action="subscribers.attributes_set")
    assert entry.user == officer
    assert entry.data == {"attributes": ["birthday", "town"], "source": "admin"}
    assert "1990" not in str(entry.data) and "Bath" not in str(entry.data) and person.email not in entry.label


def test_someone_without_the_permission_may_not_set_values_or_declare_attributes(declared):
    editor = staff_in_role(EDITORS, "editor@jeweller.example")
    person = SubscriberFactory()
    with pytest.raises(ActionForbidden):
        subscriber_attributes_set(subscriber=person, values={"town": "Bath"}, actor=editor, source="admin")
    with pytest.raises(ActionForbidden):
        attribute_declare(key="shoe_size", label="Shoe size", type=AttributeType.NUMBER, actor=editor)
    assert not AttributeValue.objects.exists() and not Attribute.objects.filter(key="shoe_size").exists()


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        ({"key": "Town"}, "key", "The key 'Town' cannot be used."),
        ({"key": "town"}, "key", "There is already an attribute with the key “town”."),
        ({"label": "  "}, "label", "Give the attribute a label"),
        ({"type": "colour"}, "type", "The type must be one of"),
        ({"type": AttributeType.CHOICE, "choices": []}, "choices", "Give at least one choice"),
        ({"type": AttributeType.CHOICE, "choices": ["Gold", "gold"]}, "choices", "“gold” is in the list twice"),
        ({"choices": ["Gold"]}, "choices", "Only an attribute of type “one of a list” has choices."),
    ],
)
def test_a_declaration_that_cannot_be_used_is_refused_naming_the_field(declared, officer, kwargs, field, message):
    wanted = {"key": "colour", "label": "Colour", "type": AttributeType.TEXT, **kwargs}
    before = Attribute.objects.count()
    with pytest.raises(AttributeDeclarationError) as caught:
        attribute_declare(**wanted, actor=officer)
    assert caught.value.field == field
    assert str(caught.value).startswith(message)
    assert Attribute.objects.count() == before


def test_declaring_is_logged_with_the_actor(officer):
    attribute = attribute_declare(key="shoe_size", label="Shoe size", type=AttributeType.NUMBER, actor=officer)
    entry = ModelLogEntry.objects.get(action="subscribers.attribute_declare")
    assert (entry.user, entry.object_id, entry.data["key"]) == (officer, str(attribute.pk), "shoe_size")


def test_removing_a_choice_someone_holds_is_refused_with_the_count(declared, officer):
    for _ in range(2):
        subscriber_attributes_set(subscriber=SubscriberFactory(), values={"tier": "Gold"}, actor=officer, source="x")
    with pytest.raises(AttributeInUse) as caught:
        attribute_update(attribute=declared["tier"], choices=["Silver", "Platinum"], actor=officer)
    assert caught.value.count == 2
    assert str(caught.value).startswith("2 subscribers hold a choice you removed (“Gold”).")
    declared["tier"].refresh_from_db()
    assert declared["tier"].choices == ["Silver", "Gold"]


def test_a_choice_nobody_holds_can_be_removed_and_the_label_and_position_changed(declared, officer):
    subscriber_attributes_set(subscriber=SubscriberFactory(), values={"tier": "Gold"}, actor=officer, source="x")
    attribute = attribute_update(
        attribute=declared["tier"], label="Loyalty tier", position=3, choices=["Gold", "Platinum"], actor=officer
    )
    attribute.refresh_from_db()
    assert (attribute.label, attribute.position, attribute.choices) == ("Loyalty tier", 3, ["Gold", "Platinum"])
    entry = ModelLogEntry.objects.get(action="subscribers.attribute_update")
    assert entry.data == {"label": "Loyalty tier", "position": 3, "choices": ["Gold", "Platinum"]}


def test_deleting_an_attribute_people_hold_needs_their_count_confirmed(declared, officer):
    people = [SubscriberFactory() for _ in range(3)]
    for person in people:
        subscriber_attributes_set(subscriber=person, values={"vip": True, "town": "Bath"}, actor=officer, source="x")
    for confirmed in (0, 2):
        with pytest.raises(AttributeInUse) as caught:
            attribute_delete(attribute=declared["vip"], values_confirmed=confirmed, actor=officer)
        assert caught.value.count == 3
        assert "3 subscribers hold a value of “VIP”" in str(caught.value)
    assert AttributeValue.objects.filter(attribute=declared["vip"]).count() == 3

    assert attribute_delete(attribute=declared["vip"], values_confirmed=3, actor=officer) == 3
    assert not Attribute.objects.filter(key="vip").exists()
    assert [values_of(person) for person in people] == [{"town": "Bath"}] * 3
    assert ModelLogEntry.objects.get(action="subscribers.attribute_delete").data == {"key": "vip", "values_deleted": 3}


def test_an_attribute_nobody_holds_is_deleted_without_confirmation(declared, officer):
    assert attribute_delete(attribute=declared["birthday"], actor=officer) == 0
    assert not Attribute.objects.filter(key="birthday").exists()


def test_a_user_with_the_model_permissions_only_may_not_set_values_without_the_value_permission(declared):
    from django.contrib.auth.models import Permission

    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_attribute"))
    with pytest.raises(ActionForbidden, match=r"subscribers\.change_attributevalue"):
        subscriber_attributes_set(subscriber=SubscriberFactory(), values={"vip": "yes"}, actor=user, source="admin")
