"""The demo's attributes and segments: seeded on the demo audience, twice without change, with plausible counts."""

import pytest
from django.core.management import CommandError, call_command

from campaigns.management.commands.seed_segments import ATTRIBUTES, SEGMENTS
from campaigns.segments.models import Segment
from campaigns.segments.selectors import segment_count
from subscribers.models import Attribute, AttributeType, AttributeValue, Subscriber
from subscribers.services.attributes import attribute_declare, attribute_update

pytestmark = pytest.mark.django_db

AUDIENCE = 3000


def _snapshot() -> dict:
    return {
        "attributes": list(Attribute.objects.order_by("key").values()),
        "values": list(AttributeValue.objects.order_by("pk").values()),
        "segments": list(Segment.objects.order_by("name").values()),
    }


@pytest.fixture
def audience():
    call_command("seed_audience")
    return Subscriber.objects.filter(email__endswith="@audience.example").count()


def test_the_seed_declares_the_demo_attributes_and_gives_every_reader_values_of_them(audience):
    call_command("seed_segments")

    assert audience == AUDIENCE
    assert sorted(Attribute.objects.values_list("key", "type")) == sorted((key, type) for key, _, type, _ in ATTRIBUTES)
    per_attribute = {key: AttributeValue.objects.filter(attribute__key=key).count() for key, *_ in ATTRIBUTES}
    # Everyone has a country and a VIP flag; some have no last order or favourite metal, as real data would.
    assert per_attribute["country"] == AUDIENCE
    assert per_attribute["vip"] == AUDIENCE
    assert 0 < per_attribute["last_order"] < AUDIENCE
    assert 0 < per_attribute["metal"] < AUDIENCE
    countries = set(AttributeValue.objects.filter(attribute__key="country").values_list("text", flat=True))
    assert countries == set(Attribute.objects.get(key="country").choices)


def test_the_seed_saves_both_segments_and_each_selects_some_of_the_audience_but_not_all(audience):
    call_command("seed_segments")

    assert sorted(Segment.objects.values_list("name", flat=True)) == sorted(name for name, *_ in SEGMENTS)
    for segment in Segment.objects.all():
        count = segment_count(segment.definition)
        assert 0 < count < audience, (segment.name, count)
    # Scotland is about one reader in seven; recent VIPs are rarer than Scots.
    scotland = segment_count(Segment.objects.get(name="Customers in Scotland").definition)
    recent_vips = segment_count(Segment.objects.get(name="Ordered in the last 90 days and VIP").definition)
    assert 300 < scotland < 600
    assert recent_vips < scotland


def test_a_second_seed_changes_nothing(audience):
    call_command("seed_segments")
    before = _snapshot()

    call_command("seed_audience")
    call_command("seed_segments")

    assert _snapshot() == before


def test_a_value_staff_changed_is_kept_by_a_later_seed(audience):
    call_command("seed_segments")
    value = AttributeValue.objects.filter(attribute__key="country").exclude(text="Wales").first()
    value.text = "Wales"
    value.save()

    call_command("seed_segments")

    value.refresh_from_db()
    assert value.text == "Wales"


def test_an_attribute_staff_declared_with_another_type_stops_the_seed_and_changes_nothing(audience):
    attribute_declare(key="vip", label="VIP tier", type=AttributeType.TEXT, actor=None)

    with pytest.raises(CommandError, match="“vip” exists with the type text"):
        call_command("seed_segments")

    assert list(Attribute.objects.values_list("key", flat=True)) == ["vip"]
    assert not AttributeValue.objects.exists()
    assert not Segment.objects.exists()


def test_a_choice_staff_added_does_not_stop_a_later_seed(audience):
    call_command("seed_segments")
    metal = Attribute.objects.get(key="metal")
    attribute_update(attribute=metal, choices=[*metal.choices, "Titanium"], actor=None)
    before = _snapshot()

    call_command("seed_segments")  # the demo starts again after staff added a choice

    assert _snapshot() == before


def test_an_attribute_declared_without_a_choice_the_demo_uses_stops_the_seed_naming_it(audience):
    attribute_declare(key="metal", label="Metal", type=AttributeType.CHOICE, choices=["Gold", "Titanium"], actor=None)

    with pytest.raises(CommandError, match="“metal” exists without the choices Silver, Rose gold, Platinum"):
        call_command("seed_segments")

    assert not AttributeValue.objects.exists()
