"""An attribute that a segment, a send still writing its audience or an automation uses is not deleted, nor a choice
of it that a segment names removed: the refusal names them, and nothing changes. (Deleting it would leave a segment
that cannot be counted, a send whose audience stops half written, or a database error for the automation's
protected trigger.)"""

import pytest
from django.test import Client
from django.urls import reverse

from automations.models import AutomationTrigger
from automations.services import automation_create
from campaigns.models import Send, SendState
from campaigns.segments.models import Segment
from campaigns.segments.services import segment_create, segment_update
from subscribers.models import Attribute, AttributeValue, Topic
from subscribers.services.attributes import AttributeInUse, AttributeUsed, attribute_delete, attribute_update
from tests.campaigns.segments.conftest import small_campaign
from tests.factories import PRIVACY_OFFICERS, staff_in_role

pytestmark = pytest.mark.django_db

SCOTS = {"all": [{"field": "attribute:country", "op": "equals", "value": "Scotland"}]}
RECENT = {"all": [{"field": "attribute:last_order", "op": "within_days", "value": 90}]}


@pytest.fixture
def officer():
    return staff_in_role(PRIVACY_OFFICERS, "officer@jeweller.example")


def refusal(attribute: Attribute, officer) -> AttributeUsed:
    with pytest.raises(AttributeUsed) as refused:
        attribute_delete(attribute=attribute, values_confirmed=AttributeValue.objects.count(), actor=officer)
    return refused.value


def test_a_segment_that_names_the_attribute_keeps_it_until_it_no_longer_does(people, officer):
    country = Attribute.objects.get(key="country")
    segment = segment_create(name="Scots", definition={"any": [SCOTS, RECENT]})
    segment_create(name="Recent buyers", definition=RECENT)

    refused = refusal(country, officer)

    assert str(refused) == "“Country” is used by the segment “Scots”. Change it first, then delete the attribute."
    assert refused.uses == ["the segment “Scots”"]
    assert AttributeValue.objects.filter(attribute=country).count() == 2

    segment_update(segment=segment, name="Scots", definition=RECENT)
    assert attribute_delete(attribute=country, values_confirmed=2, actor=officer) == 2
    assert not Attribute.objects.filter(key="country").exists()


def test_a_send_still_writing_its_audience_from_a_copy_of_the_conditions_keeps_the_attribute(people, officer):
    # The segment itself was changed since the send started; the send's copy still names the attribute.
    country = Attribute.objects.get(key="country")
    campaign = small_campaign("autumn-news")
    send = Send.objects.create(
        page=campaign,
        revision=campaign.latest_revision,
        state=SendState.SENDING,
        audience_complete=False,
        segment_definition=SCOTS,
    )

    assert refusal(country, officer).uses == ["the send of “Autumn news”, which is still writing its audience"]

    Send.objects.filter(pk=send.pk).update(state=SendState.CANCELLED)  # cancelled: it writes no more
    assert attribute_delete(attribute=country, values_confirmed=2, actor=officer) == 2


def test_an_automations_date_trigger_keeps_its_attribute_and_many_uses_are_named_five_at_a_time(people, officer):
    last_order = Attribute.objects.get(key="last_order")
    automation_create(
        name="Order anniversary",
        topic=Topic.objects.get(is_default=True),
        trigger=AutomationTrigger.DATE_ATTRIBUTE,
        trigger_attribute=last_order,
    )
    for n in range(6):
        segment_create(name=f"Recent {n}", definition=RECENT)

    refused = refusal(last_order, officer)

    assert len(refused.uses) == 7 and refused.uses[-1] == "the automation “Order anniversary”"
    assert str(refused) == (
        "“Last_Order” is used by the segment “Recent 0”, the segment “Recent 1”, the segment “Recent 2”, the "
        "segment “Recent 3”, the segment “Recent 4” and 2 more. Change them first, then delete the attribute."
    )
    assert Attribute.objects.filter(key="last_order").exists()


def test_the_admin_says_what_uses_it_offers_no_delete_button_and_refuses_a_post(people, officer):
    country = Attribute.objects.get(key="country")
    segment_create(name="Scots", definition=SCOTS)
    client = Client()
    client.force_login(officer)
    url = reverse("attributes:delete", args=[country.pk])

    page = client.get(url).content.decode()
    posted = client.post(url, {"values_confirmed": "2"}, follow=True)

    assert "is used by the segment “Scots”" in page and 'name="values_confirmed"' not in page
    assert "referenced 0 times" not in page  # Wagtail's reference index does not cover attributes
    assert posted.status_code == 200
    assert "is used by the segment “Scots”" in posted.content.decode()
    assert Attribute.objects.filter(key="country").exists()


def test_a_choice_a_segment_names_is_not_removed_and_one_nobody_names_or_holds_is(people, officer):
    metal = Attribute.objects.get(key="metal")  # gold, silver, platinum; Ada holds gold, Bob silver
    segment_create(name="Platinum buyers", definition={"all": [{"field": "attribute:metal", "op": "one_of",
                                                                "value": ["platinum"]}]})
    segment_create(name="Not platinum", definition={"none": [{"field": "attribute:metal", "op": "equals",
                                                               "value": "platinum"}]})
    segment_create(name="Has a metal", definition={"all": [{"field": "attribute:metal", "op": "is_set"}]})
    segment_create(name="Platinum in a note", definition={"all": [{"field": "attribute:country", "op": "equals",
                                                                     "value": "platinum"}]})

    # Platinum: nobody holds it, but two segments compare the attribute with it
    with pytest.raises(AttributeUsed) as refused:
        attribute_update(attribute=metal, choices=["gold", "silver"], actor=officer)
    assert str(refused.value) == (
        "A choice you removed (“platinum”) is named by the segment “Not platinum” and the segment “Platinum "
        "buyers”. Change them first, or keep the choice."
    )
    assert refused.value.field == "choices"
    metal.refresh_from_db()
    assert metal.choices == ["gold", "silver", "platinum"]

    # Once no segment names it, it goes; and a new choice added beside it is no use of anything
    segment_create(name="Gold buyers", definition={"all": [{"field": "attribute:metal", "op": "equals",
                                                            "value": "gold"}]})
    for name in ("Platinum buyers", "Not platinum"):
        segment_update(segment=Segment.objects.get(name=name), definition={"all": []})
    attribute_update(attribute=metal, choices=["gold", "silver", "titanium"], actor=officer)
    metal.refresh_from_db()
    assert metal.choices == ["gold", "silver", "titanium"]


def test_a_choice_people_hold_is_refused_by_their_count_before_the_segments_are_asked(people, officer):
    metal = Attribute.objects.get(key="metal")
    segment_create(name="Gold buyers", definition={"all": [{"field": "attribute:metal", "op": "equals",
                                                            "value": "gold"}]})

    with pytest.raises(AttributeInUse, match="1 subscriber holds a choice you removed"):
        attribute_update(attribute=metal, choices=["silver", "platinum"], actor=officer)


def test_the_attribute_form_shows_the_refusal_at_the_choices(people, officer):
    metal = Attribute.objects.get(key="metal")
    segment_create(name="Platinum buyers", definition={"all": [{"field": "attribute:metal", "op": "equals",
                                                                "value": "platinum"}]})
    client = Client()
    client.force_login(officer)

    response = client.post(
        reverse("attributes:edit", args=[metal.pk]),
        {"label": "Metal", "choices": "gold\nsilver", "position": "0"},
    )

    assert response.status_code == 200
    assert "is named by the segment “Platinum buyers”" in response.content.decode()
    assert response.context["form"].errors["choices"]
    metal.refresh_from_db()
    assert metal.choices == ["gold", "silver", "platinum"]
