"""A person's attribute values are personal data: in their copy of their data, in the archive for a sale of the
business, and gone with their erasure. A customer's own details (country, town) are not copied into values."""

import csv
import io
import zipfile

import pytest
from django.core.management import call_command

from subscribers.models import AttributeType, AttributeValue, ErasureRecord, ErasureSource, User
from subscribers.services.access_export import access_export_tables
from subscribers.services.accounts import RegistrationDetails, account_register
from subscribers.services.attributes import attribute_declare, subscriber_attributes_set
from subscribers.services.erasure import subscriber_erase
from tests.factories import ConfirmedSubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def declared():
    attribute_declare(key="tier", label="Loyalty tier", type=AttributeType.CHOICE, choices=["Gold"], actor=None)
    attribute_declare(key="orders", label="Orders placed", type=AttributeType.NUMBER, position=1, actor=None)
    attribute_declare(key="vip", label="VIP", type=AttributeType.BOOLEAN, position=2, actor=None)
    attribute_declare(key="town", label="Town", type=AttributeType.TEXT, position=3, actor=None)


@pytest.fixture
def person(declared):
    subscriber = ConfirmedSubscriberFactory(email="ada@mail.example")
    subscriber_attributes_set(
        subscriber=subscriber, values={"tier": "gold", "orders": "12.50", "vip": "yes"}, actor=None, source="test"
    )
    return subscriber


def test_the_persons_copy_of_their_data_has_a_table_of_their_attribute_values(person):
    ConfirmedSubscriberFactory()  # someone else's values are not in it
    assert access_export_tables(subscriber=person)["attributes"] == [
        {"key": "tier", "label": "Loyalty tier", "value": "Gold"},
        {"key": "orders", "label": "Orders placed", "value": "12.5"},
        {"key": "vip", "label": "VIP", "value": "yes"},
    ]


def test_the_sale_of_the_business_archive_holds_every_value_and_what_each_attribute_is(person, tmp_path):
    staff = User.objects.create_superuser(email="owner@jeweller.example", password="pw")
    output = tmp_path / "sale.zip"
    call_command(
        "export_business_transfer", output=str(output), recipient="Buyer Ltd", made_by=staff.email, stdout=io.StringIO()
    )
    archive = zipfile.ZipFile(output)
    values = list(csv.DictReader(io.StringIO(archive.read("attribute_values.csv").decode())))
    assert values == [
        {"subscriber_id": str(person.pk), "attribute": key, "value": value}
        for key, value in (("tier", "Gold"), ("orders", "12.5"), ("vip", "yes"))
    ]
    attributes = list(csv.DictReader(io.StringIO(archive.read("attributes.csv").decode())))
    assert [(row["key"], row["type"], row["choices"]) for row in attributes] == [
        ("tier", "choice", "Gold"), ("orders", "number", ""), ("vip", "boolean", ""), ("town", "text", "")
    ]
    assert "attribute_values.csv" in archive.read("README.txt").decode()


def test_erasure_removes_the_persons_values_and_counts_them(person):
    other = ConfirmedSubscriberFactory()
    subscriber_attributes_set(subscriber=other, values={"vip": "no"}, actor=None, source="test")

    staff = User.objects.create_superuser(email="officer@jeweller.example", password="pw")
    subscriber_erase(subscriber=person, source=ErasureSource.STAFF, performed_by=staff)

    assert list(AttributeValue.objects.values_list("subscriber_id", flat=True)) == [other.pk]
    assert ErasureRecord.objects.get().counts["attribute_values"] == 3


def test_a_customers_own_town_and_country_are_not_copied_into_attribute_values(declared, run_on_commit):
    details = RegistrationDetails(
        email="una@mail.example", password="correct horse battery", first_name="Una", last_name="Town",
        telephone="+441214960000", address_line1="2 Test Street", address_line2="", town="Birmingham", county="",
        postcode="B18 6AA", marketing_opt_in=True,
    )
    with run_on_commit():
        account_register(details=details)
    assert not AttributeValue.objects.exists()
