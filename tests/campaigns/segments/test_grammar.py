"""The segment grammar: what it accepts, how it cleans it, and every refusal with the path and message it gives."""

import pytest

from campaigns.segments.errors import SegmentError
from campaigns.segments.grammar import MAX_CONDITIONS, MAX_DEPTH, segment_validate
from campaigns.segments.models import Segment
from campaigns.segments.services import segment_create, segment_delete, segment_update

pytestmark = pytest.mark.django_db

COUNTRY = {"field": "attribute:country", "op": "equals", "value": "Scotland"}


def wrap(condition) -> dict:
    """``condition`` as the first item of an "any" group, the third item of the whole "all"."""
    return {"all": [COUNTRY, COUNTRY, {"any": [condition]}]}


def test_a_valid_definition_comes_back_cleaned(declared):
    definition = {
        "all": [
            {"field": "profile:country", "op": "equals", "value": "gb"},
            # Choices in any case, as the import and the API take them, become the choice as declared
            {"field": "attribute:metal", "op": "one_of", "value": ["gold", "Silver ", "GOLD"]},
            {"field": "attribute:metal", "op": "not_equals", "value": " PLATINUM"},
            {"none": [{"field": "attribute:vip", "op": "is_set", "value": None}]},
            {"field": "received", "op": "fewer_than", "value": {"count": 2, "days": 7}},
        ]
    }

    assert segment_validate(definition) == {
        "all": [
            {"field": "profile:country", "op": "equals", "value": "GB"},
            {"field": "attribute:metal", "op": "one_of", "value": ["gold", "silver"]},
            {"field": "attribute:metal", "op": "not_equals", "value": "platinum"},
            {"none": [{"field": "attribute:vip", "op": "is_set"}]},
            {"field": "received", "op": "fewer_than", "value": {"count": 2, "days": 7}},
        ]
    }


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            {"field": "attribute:last_order", "op": "bigger", "value": 3},
            "all.2.any.0: unknown operator 'bigger' for a date attribute; "
            "use before, after, within_days, is_set, is_not_set",
        ),
        (
            {"field": "attribute:country", "op": "before", "value": "2026-01-01"},
            "all.2.any.0: unknown operator 'before' for a text attribute; "
            "use equals, not_equals, contains, is_set, is_not_set",
        ),
        (
            {"field": "attribute:vip", "op": "contains", "value": "y"},
            "all.2.any.0: unknown operator 'contains' for a yes-or-no attribute; use equals, is_set, is_not_set",
        ),
        (
            {"field": "attribute:shoe_size", "op": "equals", "value": "5"},
            "all.2.any.0: unknown attribute 'shoe_size'; attributes: country, last_order, metal, spend, vip",
        ),
        (
            {"field": "surname", "op": "equals", "value": "x"},
            "all.2.any.0: unknown field 'surname'; use attribute:<key> or one of topic, signed_up, signup_source, "
            "account, profile:country, profile:town, received",
        ),
        ({"field": "topic", "op": "subscribed", "value": "jewels"}, "unknown topic 'jewels'; topics: general, offers"),
        ({"field": "topic", "op": "equals", "value": "offers"}, "use subscribed, not_subscribed"),
        ({"field": "attribute:spend", "op": "less_than", "value": "10"}, "expected a number (got '10')"),
        ({"field": "attribute:spend", "op": "less_than", "value": True}, "expected a number (got True)"),
        ({"field": "attribute:spend", "op": "less_than", "value": 1e30}, "the number is too large"),
        ({"field": "attribute:last_order", "op": "before", "value": "1/3/2026"}, "expected a date as YYYY-MM-DD"),
        ({"field": "attribute:last_order", "op": "before", "value": "2026-02-30"}, "expected a date as YYYY-MM-DD"),
        ({"field": "attribute:last_order", "op": "within_days", "value": 0}, "days from 1 to 36500 (got 0)"),
        ({"field": "attribute:last_order", "op": "within_days", "value": 2.5}, "days from 1 to 36500 (got 2.5)"),
        ({"field": "attribute:country", "op": "equals", "value": ""}, "expected some text (got ''); to match no"),
        ({"field": "attribute:country", "op": "equals", "value": "x" * 256}, "longer than 255 characters"),
        ({"field": "attribute:country", "op": "equals", "value": "   "}, "expected some text (got '   ')"),
        ({"field": "attribute:country", "op": "contains", "value": "Scot\x00"}, "the text contains a NUL character"),
        ({"field": "profile:town", "op": "contains", "value": "Leith\nDocks"}, "the text must be on one line"),
        ({"field": "attribute:country", "op": "is_set", "value": "x"}, "is_set takes no value"),
        ({"field": "attribute:vip", "op": "equals", "value": "yes"}, "expected true or false (got 'yes')"),
        ({"field": "attribute:metal", "op": "equals", "value": "tin"}, "'tin' is not one of metal's choices: gold,"),
        ({"field": "attribute:metal", "op": "one_of", "value": []}, "expected a list of 1 to 100 values"),
        ({"field": "attribute:metal", "op": "one_of", "value": ["gold", "tin"]}, "'tin' is not one of metal's"),
        ({"field": "signup_source", "op": "equals", "value": "carrier_pigeon"}, "not one of the sign-up sources"),
        ({"field": "account", "op": "equals", "value": 1}, "expected true or false (got 1)"),
        ({"field": "profile:country", "op": "equals", "value": "Scotland"}, "a country is its two-letter code"),
        ({"field": "received", "op": "campaign", "value": 999999}, "no campaign with id 999999"),
        ({"field": "received", "op": "campaign", "value": "1"}, "no campaign with id '1'"),
        ({"field": "received", "op": "fewer_than", "value": 2}, 'expected {"count": N, "days": D}'),
        ({"field": "received", "op": "fewer_than", "value": {"count": 0, "days": 7}}, "count from 1 to 1000"),
        ({"field": "signed_up", "op": "equals", "value": "2026-01-01"}, "use before, after, within_days"),
        ({"field": "account", "op": "equals", "value": True, "extra": 1}, "unknown key 'extra'; a condition has"),
        ({"field": "account", "value": True}, "a condition on 'account' needs an op"),
        ({"op": "equals", "value": True}, "a condition needs a field"),
        ({"field": ["account"], "op": "equals", "value": True}, "a condition needs a field"),
        ({"anything": []}, "a group has exactly one of all, any, none"),
        ({"all": [], "any": []}, "a group has exactly one of all, any, none"),
        ({"any": []}, "all.2.any.0.any: an empty group"),
        ({"all": COUNTRY}, "all.2.any.0.all: a group holds a list"),
        ("Scotland", "all.2.any.0: expected a group or a condition"),
    ],
)
def test_each_mistake_is_refused_with_its_path_and_what_to_do(declared, condition, message):
    with pytest.raises(SegmentError) as refused:
        segment_validate(wrap(condition))

    assert message in str(refused.value)
    assert str(refused.value).startswith("all.2.any.0")


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (None, 'definition: a definition is one group: {"all": [...]}'),
        ([COUNTRY], "definition: a definition is one group"),
        (COUNTRY, "definition: a definition is one group"),
        ({"any": []}, "any: an empty group"),
        ({"none": []}, "none: an empty group"),
    ],
)
def test_the_root_must_be_one_group(declared, definition, message):
    with pytest.raises(SegmentError, match="^" + message.replace("[", r"\[").replace("{", r"\{")):
        segment_validate(definition)


def test_depth_and_the_number_of_conditions_are_capped(declared):
    definition = COUNTRY
    for _ in range(MAX_DEPTH):
        definition = {"all": [definition]}
    assert segment_validate(definition)  # exactly the cap

    with pytest.raises(SegmentError, match=f"groups are nested more than {MAX_DEPTH} deep"):
        segment_validate({"all": [definition]})
    assert segment_validate({"all": [COUNTRY] * MAX_CONDITIONS})
    with pytest.raises(SegmentError, match=rf"^all.{MAX_CONDITIONS}: more than {MAX_CONDITIONS} conditions"):
        segment_validate({"all": [COUNTRY] * (MAX_CONDITIONS + 1)})


def test_creating_a_segment_saves_the_cleaned_definition_and_refuses_mistakes_saving_nothing(declared):
    segment = segment_create(
        name="Scots", definition={"all": [{"field": "profile:country", "op": "equals", "value": "gb"}]}
    )
    assert Segment.objects.get().definition == {"all": [{"field": "profile:country", "op": "equals", "value": "GB"}]}

    with pytest.raises(SegmentError, match=r"^all\.0: unknown field 'postcode'"):
        segment_create(name="Bad", definition={"all": [{"field": "postcode", "op": "equals", "value": "B1"}]})
    with pytest.raises(SegmentError, match=r"^name: a segment named 'scots' exists already"):
        segment_create(name="scots", definition={"all": []})
    with pytest.raises(SegmentError, match=r"^name: a segment needs a name"):
        segment_create(name="  ", definition={"all": []})
    assert list(Segment.objects.values_list("name", flat=True)) == ["Scots"]

    with pytest.raises(SegmentError, match=r"^all\.0: unknown operator"):
        segment_update(segment=segment, definition={"all": [{"field": "account", "op": "is_set"}]})
    segment.refresh_from_db()
    assert segment.definition["all"][0]["value"] == "GB"
    segment_update(segment=segment, name="Britons", definition={"all": []})
    segment.refresh_from_db()
    assert (segment.name, segment.definition) == ("Britons", {"all": []})

    segment_delete(segment=segment)
    assert not Segment.objects.exists()


def test_text_is_asked_for_as_values_are_stored_without_spaces_at_the_ends_and_in_one_spelling(declared):
    # A trailing space, or "Île" typed as I + a combining circumflex, would otherwise match no value anyone holds,
    # and "is not" would select everyone.
    definition = {
        "any": [
            {"field": "attribute:country", "op": "not_equals", "value": " Scotland "},
            {"field": "profile:town", "op": "contains", "value": "I\u0302le "},
        ]
    }

    assert segment_validate(definition) == {
        "any": [
            {"field": "attribute:country", "op": "not_equals", "value": "Scotland"},
            {"field": "profile:town", "op": "contains", "value": "\u00cele"},
        ]
    }
