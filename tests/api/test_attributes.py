"""Attributes through the API: the declared attributes listed, each subscriber's values read as ``{key: value}``,
and set on create and PATCH through the attribute service, with its errors at ``attributes.<key>``."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from wagtail.models import ModelLogEntry

from subscribers.models import AttributeType, AttributeValue, Subscriber
from subscribers.selectors import subscriber_attribute_values
from subscribers.services.attributes import attribute_declare, subscriber_attributes_set
from tests.factories import SubscriberFactory

from .conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def declared():
    for position, (key, label, type, choices) in enumerate(
        (
            ("birthday", "Birthday", AttributeType.DATE, None),
            ("orders", "Orders placed", AttributeType.NUMBER, None),
            ("vip", "VIP", AttributeType.BOOLEAN, None),
            ("tier", "Tier", AttributeType.CHOICE, ["Silver", "Gold"]),
            ("town", "Town", AttributeType.TEXT, None),
        )
    ):
        attribute_declare(key=key, label=label, type=type, choices=choices, position=position, actor=None)


def test_the_declared_attributes_are_listed_with_their_types_and_choices(api_client, declared):
    response = api_client("subscribers:read").get("/api/v1/attributes/")
    assert response.status_code == 200
    assert response.json()[3] == {
        "key": "tier", "label": "Tier", "type": "choice", "choices": ["Silver", "Gold"], "position": 3
    }
    assert [row["key"] for row in response.json()] == ["birthday", "orders", "vip", "tier", "town"]


def test_listing_attributes_needs_the_read_scope(api_client, declared):
    assert api_client("campaigns:read").get("/api/v1/attributes/").status_code == 403


def test_a_subscriber_is_read_with_their_values_as_json_types(api_client, declared):
    person = SubscriberFactory()
    subscriber_attributes_set(
        subscriber=person,
        values={"birthday": "1990-02-28", "orders": "12", "vip": "no", "tier": "gold", "town": "Bath"},
        actor=None,
        source="test",
    )
    body = api_client("subscribers:read").get(f"/api/v1/subscribers/{person.public_id}/").json()
    assert body["attributes"] == {"birthday": "1990-02-28", "orders": 12, "vip": False, "tier": "Gold", "town": "Bath"}
    assert SubscriberFactory().public_id  # someone without values
    listed = api_client("subscribers:read").get("/api/v1/subscribers/").json()["results"]
    assert [row["attributes"] for row in listed] == [{}, body["attributes"]]


def test_values_are_set_on_create_and_logged_with_the_key(api_client, declared):
    client = api_client("subscribers:read", "subscribers:write", name="Shop checkout")
    response = client.post(
        "/api/v1/subscribers/",
        {"email": "ada@example.com", "attributes": {"birthday": "1990-02-28", "orders": 2.5}},
    )
    assert response.status_code == 202, response.json()
    assert response.json()["attributes"] == {"birthday": "1990-02-28", "orders": 2.5}
    entry = ModelLogEntry.objects.get(action="subscribers.attributes_set")
    assert entry.user == client.api_key.user
    assert entry.data == {"attributes": ["birthday", "orders"], "source": "api"}


def test_a_bad_value_on_create_creates_nobody_and_names_the_field(api_client, declared):
    response = api_client("subscribers:write").post(
        "/api/v1/subscribers/",
        {"email": "ada@example.com", "attributes": {"birthday": "31/02/1990", "vip": "maybe"}},
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["fields"] == {
        "attributes.birthday": ["birthday: '31/02/1990' is not a date (use YYYY-MM-DD)."],
        "attributes.vip": ["vip: 'maybe' is not yes or no (use yes, no, true, false, 1 or 0)."],
    }
    assert not Subscriber.objects.filter(email="ada@example.com").exists()


def test_patch_sets_and_clears_values_and_leaves_the_others(api_client, declared):
    person = SubscriberFactory()
    subscriber_attributes_set(subscriber=person, values={"town": "Bath", "vip": True}, actor=None, source="test")
    response = api_client("subscribers:read", "subscribers:write").patch(
        f"/api/v1/subscribers/{person.public_id}/", {"attributes": {"town": None, "tier": "Silver"}}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["attributes"] == {"vip": True, "tier": "Silver"}
    assert subscriber_attribute_values(subscriber=person) == {"vip": True, "tier": "Silver"}


def test_a_bad_patch_changes_neither_the_name_nor_any_value(api_client, declared):
    person = SubscriberFactory(first_name="Ada")
    response = api_client("subscribers:write").patch(
        f"/api/v1/subscribers/{person.public_id}/",
        {"first_name": "Grace", "attributes": {"town": "Wells", "nickname": "Gigi"}},
    )
    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["attributes.nickname"]
    person.refresh_from_db()
    assert person.first_name == "Ada" and not AttributeValue.objects.exists()


def test_attributes_must_be_an_object(api_client, declared):
    person = SubscriberFactory()
    response = api_client("subscribers:write").patch(
        f"/api/v1/subscribers/{person.public_id}/", {"attributes": ["town", "Bath"]}
    )
    assert response.status_code == 400
    assert "attributes" in error_of(response)["fields"]


def test_setting_values_needs_the_write_scope(api_client, declared):
    person = SubscriberFactory()
    response = api_client("subscribers:read").patch(
        f"/api/v1/subscribers/{person.public_id}/", {"attributes": {"town": "Bath"}}
    )
    assert response.status_code == 403
    assert not AttributeValue.objects.exists()


def test_the_list_reads_values_in_a_constant_number_of_queries_per_page(api_client, declared):
    client = api_client("subscribers:read")

    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/subscribers/?page_size=50").status_code == 200
        return len(captured)

    queries_for_page()  # the key's first use is recorded once: not a query of the page
    for _ in range(2):
        person = SubscriberFactory()
        subscriber_attributes_set(subscriber=person, values={"town": "Bath", "vip": 1}, actor=None, source="test")
    few = queries_for_page()
    for _ in range(20):
        person = SubscriberFactory()
        subscriber_attributes_set(subscriber=person, values={"town": "Bath", "orders": 3}, actor=None, source="test")
    assert queries_for_page() == few


def test_an_erased_persons_values_do_not_come_back_through_the_api_before_they_opt_in_again(api_client, declared):
    # Given someone erased, whose shop sends their details again
    client = api_client("subscribers:read", "subscribers:write", "privacy:write")
    person = client.post("/api/v1/subscribers/", {"email": "eve@example.com"}).json()
    assert client.post(f"/api/v1/subscribers/{person['public_id']}/erase/").status_code == 200

    # When the shop signs the address up again with a birthday and a tier
    again = client.post(
        "/api/v1/subscribers/",
        {"email": "eve@example.com", "attributes": {"birthday": "1990-02-28", "tier": "gold"}},
    )

    # Then the sign-up goes ahead (a confirmation email: double opt-in), and neither value is kept, as the answer says
    assert again.status_code == 202
    assert again["Attributes-Not-Kept"] == "birthday, tier"
    assert again.json()["attributes"] == {} and again.json()["subscriptions"][0]["status"] == "pending"
    assert not AttributeValue.objects.exists()
    # and setting them on the pending record before the person confirms is refused, naming each
    refused = client.patch(f"/api/v1/subscribers/{again.json()['public_id']}/", {"attributes": {"town": "Bath"}})
    assert refused.status_code == 409 and error_of(refused)["code"] == "suppressed"
    assert list(error_of(refused)["fields"]) == ["attributes.town"]
    assert "suppressed for marketing email" in error_of(refused)["message"]
    assert not AttributeValue.objects.exists()


def test_someone_unsubscribed_from_everything_keeps_their_values_correctable_but_gets_no_new_ones(
    api_client, declared
):
    person = SubscriberFactory(email="una@example.com")
    subscriber_attributes_set(subscriber=person, values={"town": "Bath", "vip": True}, actor=None, source="test")
    client = api_client("subscribers:read", "subscribers:write")
    base = f"/api/v1/subscribers/{person.public_id}"
    assert client.post(f"{base}/unsubscribe/").status_code == 200

    corrected = client.patch(f"{base}/", {"attributes": {"town": "Wells", "vip": None}})
    added = client.patch(f"{base}/", {"attributes": {"town": "Frome", "orders": 3}})

    assert corrected.status_code == 200 and corrected.json()["attributes"] == {"town": "Wells"}
    assert added.status_code == 409 and list(error_of(added)["fields"]) == ["attributes.orders"]
    assert subscriber_attribute_values(subscriber=person) == {"town": "Wells"}  # all or nothing: not Frome
