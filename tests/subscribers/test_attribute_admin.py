"""Subscribers > Attributes and a subscriber's attribute values in the admin: every change through the services,
for the Privacy officers role, refusals shown beside their field."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from wagtail.models import ModelLogEntry

from subscribers.models import Attribute, AttributeType, AttributeValue, SuppressionReason, SuppressionScope
from subscribers.selectors import subscriber_attribute_values
from subscribers.services import suppression_add
from subscribers.services.attributes import attribute_declare, subscriber_attributes_set
from tests.factories import EDITORS, PRIVACY_OFFICERS, SubscriberFactory, UserFactory, staff_in_role

pytestmark = pytest.mark.django_db
User = get_user_model()


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def officer():
    return staff_in_role(PRIVACY_OFFICERS, "officer@jeweller.example")


@pytest.fixture
def declared():
    attribute_declare(key="birthday", label="Birthday", type=AttributeType.DATE, actor=None)
    attribute_declare(key="orders", label="Orders placed", type=AttributeType.NUMBER, position=1, actor=None)
    attribute_declare(key="vip", label="VIP", type=AttributeType.BOOLEAN, position=2, actor=None)
    attribute_declare(
        key="tier", label="Tier", type=AttributeType.CHOICE, choices=["Silver", "Gold"], position=3, actor=None
    )


def test_a_privacy_officer_lists_and_declares_attributes(officer, declared):
    client = client_of(officer)
    listing = client.get(reverse("attributes:index"))
    assert listing.status_code == 200
    assert "Orders placed" in listing.content.decode() and "Silver, Gold" in listing.content.decode()

    response = client.post(
        reverse("attributes:add"),
        {"key": "metal", "label": "Favourite metal", "type": "choice", "choices": "Gold\nSilver\n\nPlatinum",
         "position": "4"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    metal = Attribute.objects.get(key="metal")
    assert (metal.label, metal.choices, metal.position) == ("Favourite metal", ["Gold", "Silver", "Platinum"], 4)
    assert ModelLogEntry.objects.get(action="subscribers.attribute_declare").user == officer
    assert not ModelLogEntry.objects.filter(action="wagtail.create", content_type__model="attribute").exists()


def test_a_refused_declaration_is_shown_beside_its_field_and_declares_nothing(officer, declared):
    response = client_of(officer).post(
        reverse("attributes:add"), {"key": "orders", "label": "Orders", "type": "number", "position": "0"}
    )
    assert response.status_code == 200
    assert "There is already an attribute with the key “orders”." in response.content.decode()
    assert Attribute.objects.filter(key="orders").count() == 1


def test_editing_cannot_change_the_key_or_type_and_cannot_remove_a_choice_in_use(officer, declared):
    tier = Attribute.objects.get(key="tier")
    subscriber_attributes_set(subscriber=SubscriberFactory(), values={"tier": "Gold"}, actor=None, source="test")
    client = client_of(officer)
    response = client.post(
        reverse("attributes:edit", args=[tier.pk]),
        {"key": "rank", "label": "Loyalty tier", "type": "text", "choices": "Silver\nPlatinum", "position": "3"},
    )
    assert response.status_code == 200
    assert "1 subscriber holds a choice you removed (“Gold”)" in response.content.decode()
    response = client.post(
        reverse("attributes:edit", args=[tier.pk]),
        {"key": "rank", "label": "Loyalty tier", "type": "text", "choices": "Silver\nGold\nPlatinum", "position": "3"},
    )
    assert response.status_code == 302
    tier.refresh_from_db()
    assert (tier.key, tier.type, tier.label, tier.choices) == ("tier", "choice", "Loyalty tier",
                                                               ["Silver", "Gold", "Platinum"])


def test_deleting_shows_the_count_and_deletes_only_that_many(officer, declared):
    vip = Attribute.objects.get(key="vip")
    for _ in range(2):
        subscriber_attributes_set(subscriber=SubscriberFactory(), values={"vip": "yes"}, actor=None, source="test")
    client = client_of(officer)
    page = client.get(reverse("attributes:delete", args=[vip.pk])).content.decode()
    assert "2 subscribers hold a value of “VIP”" in page and 'name="values_confirmed" value="2"' in page

    # Someone else sets a third value after the page was shown: the deletion is refused.
    subscriber_attributes_set(subscriber=SubscriberFactory(), values={"vip": "no"}, actor=None, source="test")
    response = client.post(reverse("attributes:delete", args=[vip.pk]), {"values_confirmed": "2"}, follow=True)
    assert "3 subscribers hold a value of “VIP”" in response.content.decode()
    assert Attribute.objects.filter(key="vip").exists()

    response = client.post(reverse("attributes:delete", args=[vip.pk]), {"values_confirmed": "3"})
    assert response.status_code == 302
    assert not Attribute.objects.filter(key="vip").exists() and not AttributeValue.objects.exists()


def test_a_campaign_editor_cannot_reach_attributes_or_change_values(declared):
    editor = staff_in_role(EDITORS, "editor@jeweller.example")
    person = SubscriberFactory()
    client = client_of(editor)
    assert client.get(reverse("attributes:index")).status_code in (302, 403)
    response = client.post(reverse("subscriber_attributes_edit", args=[person.pk]), {"vip": "yes"})
    assert response.status_code in (302, 403)
    assert not AttributeValue.objects.exists()


def test_values_are_shown_only_to_staff_who_may_view_them_and_changed_only_by_those_who_also_may(declared):
    # A group given, by hand, the right to see subscribers (and one to change values) but not to view values
    person = SubscriberFactory()
    subscriber_attributes_set(subscriber=person, values={"vip": True}, actor=None, source="test")
    support = UserFactory(is_staff=True)
    support.user_permissions.add(
        *(Permission.objects.get(codename=name) for name in ("access_admin", "view_subscriber",
                                                             "change_attributevalue"))
    )
    client = client_of(support)

    page = client.get(reverse("subscriber:inspect", args=[person.pk]))
    edit = client.post(reverse("subscriber_attributes_edit", args=[person.pk]), {"vip": "no"})

    assert page.status_code == 200 and "<dt>VIP</dt>" not in page.content.decode()
    assert "Change attribute values" not in page.content.decode()
    assert edit.status_code in (302, 403) and subscriber_attribute_values(subscriber=person) == {"vip": True}

    # Given the right to view values too, they see them and may change them
    support.user_permissions.add(Permission.objects.get(codename="view_attributevalue"))
    client = client_of(User.objects.get(pk=support.pk))  # permissions are cached on the user object
    assert "<dt>VIP</dt><dd>yes</dd>" in client.get(reverse("subscriber:inspect", args=[person.pk])).content.decode()


def test_a_subscribers_page_shows_their_values_and_the_form_fits_each_type(officer, declared):
    person = SubscriberFactory()
    subscriber_attributes_set(subscriber=person, values={"vip": True, "orders": "3"}, actor=None, source="test")
    client = client_of(officer)
    page = client.get(reverse("subscriber:inspect", args=[person.pk])).content.decode()
    assert "<dt>VIP</dt><dd>yes</dd>" in page and "<dt>Orders placed</dt><dd>3</dd>" in page
    assert "<dt>Birthday</dt><dd>—</dd>" in page
    form = client.get(reverse("subscriber_attributes_edit", args=[person.pk])).content.decode()
    assert 'type="date" name="birthday"' in form
    assert 'type="number" name="orders"' in form and 'step="any"' in form
    assert '<select name="vip"' in form and '<option value="yes" selected>Yes</option>' in form
    assert '<option value="Gold">Gold</option>' in form


class FormFields(HTMLParser):
    """The fields a browser would send from a page's form: inputs (hidden ones included) and selected options."""

    def __init__(self, html: str):
        super().__init__()
        self.data: dict[str, str] = {}
        self.select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name") and attrs["name"] != "csrfmiddlewaretoken":
            self.data[attrs["name"]] = attrs.get("value") or ""
        elif tag == "select":
            self.select = attrs["name"]
            self.data[self.select] = ""
        elif tag == "option" and self.select and "selected" in attrs:
            self.data[self.select] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self.select = None


def shown(client, person) -> dict[str, str]:
    return FormFields(client.get(reverse("subscriber_attributes_edit", args=[person.pk])).content.decode()).data


def test_saving_the_form_sets_and_clears_values_through_the_service(officer, declared):
    person = SubscriberFactory()
    subscriber_attributes_set(subscriber=person, values={"vip": True, "orders": "3"}, actor=None, source="test")
    client = client_of(officer)
    page = shown(client, person)
    response = client.post(
        reverse("subscriber_attributes_edit", args=[person.pk]),
        {**page, "birthday": "1990-02-28", "orders": "", "vip": "no", "tier": "Gold"},
    )
    assert response.status_code == 302
    assert {k: str(v) for k, v in subscriber_attribute_values(subscriber=person).items()} == {
        "birthday": "1990-02-28", "vip": "False", "tier": "Gold"
    }
    entry = ModelLogEntry.objects.filter(action="subscribers.attributes_set").latest("pk")
    assert entry.user == officer and entry.data["source"] == "admin"


def test_a_bad_value_in_the_form_is_shown_beside_its_field_and_nothing_is_saved(officer, declared):
    person = SubscriberFactory()
    response = client_of(officer).post(
        reverse("subscriber_attributes_edit", args=[person.pk]),
        {"birthday": "31/02/1990", "orders": "many", "vip": "yes", "tier": ""},
    )
    assert response.status_code == 200
    assert "Enter a valid date." in response.content.decode() and "Enter a number." in response.content.decode()
    assert not AttributeValue.objects.exists()


def test_a_new_value_for_someone_suppressed_is_refused_beside_its_field_and_a_held_one_is_corrected(officer, declared):
    person = SubscriberFactory(email="gone@example.com")
    subscriber_attributes_set(subscriber=person, values={"orders": "3"}, actor=None, source="test")
    suppression_add(email="gone@example.com", scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED)
    client = client_of(officer)
    url = reverse("subscriber_attributes_edit", args=[person.pk])

    refused = client.post(url, {**shown(client, person), "orders": "4", "tier": "Gold"})
    corrected = client.post(url, {**shown(client, person), "orders": "4"})

    assert refused.status_code == 200
    assert "suppressed for marketing email" in refused.context["form"].errors["tier"][0]
    assert corrected.status_code == 302
    assert subscriber_attribute_values(subscriber=person) == {"orders": Decimal(4)}


def test_the_form_shows_a_date_held_in_the_form_a_date_picker_reads(officer, declared):
    # A date input takes only YYYY-MM-DD: a date shown in the site's own format (28/02/1990) leaves the picker
    # empty, and saving the form unchanged would then clear the value.
    person = SubscriberFactory()
    subscriber_attributes_set(subscriber=person, values={"birthday": "1990-02-28"}, actor=None, source="test")
    form = client_of(officer).get(reverse("subscriber_attributes_edit", args=[person.pk])).content.decode()
    assert 'type="date" name="birthday" value="1990-02-28"' in form


def test_saving_puts_back_no_value_someone_else_set_since_the_page_was_opened(officer, declared):
    # Given the form opened on a VIP born on 28 February 1990 with no tier, and the API changing VIP and the tier
    # meanwhile
    person = SubscriberFactory()
    subscriber_attributes_set(subscriber=person, values={"vip": True, "birthday": "1990-02-28"}, actor=None, source="t")
    client = client_of(officer)
    page = shown(client, person)
    assert page["initial-tier"] == "" and page["initial-vip"] == "yes"
    subscriber_attributes_set(subscriber=person, values={"tier": "Gold", "vip": False}, actor=None, source="api")

    # When the officer adds a number of orders and saves the rest as shown
    response = client.post(reverse("subscriber_attributes_edit", args=[person.pk]), {**page, "orders": "5"})

    # Then only the orders are saved: the tier and VIP set meanwhile stay as they are now
    assert response.status_code == 302
    assert {k: str(v) for k, v in subscriber_attribute_values(subscriber=person).items()} == {
        "birthday": "1990-02-28", "orders": "5.000000", "vip": "False", "tier": "Gold"
    }
    messages = [m.message for m in client.get(response.url).context["messages"]]
    assert "Saved: 1 value changed." in messages
