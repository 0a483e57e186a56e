"""Partner exports leave out everyone who objected, was erased, is suppressed, is not subscribed now or is only a
soft opt-in, and log a Disclosure with the checksum of exactly the bytes handed over; the sale-of-business archive
holds everything, with checksums that verify, and is logged too."""

import csv
import hashlib
import io
import json
import re
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from subscribers.models import (
    ConsentEvent,
    ConsentSource,
    Disclosure,
    DisclosureKind,
    DisclosureRecipient,
    ErasureSource,
    LawfulBasis,
    Partner,
    RightsRequestChannel,
    RightsRequestKind,
    Subscriber,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
    User,
)
from subscribers.selectors import partner_export_eligible, partner_export_summary
from subscribers.services import (
    address_bounced,
    privacy_policy_acknowledge,
    privacy_policy_publish,
    rights_request_open,
    subscription_give,
    subscription_request,
    subscription_withdraw,
    suppression_add,
)
from subscribers.services.access_export import access_export_tables
from subscribers.services.accounts import RegistrationDetails, account_register
from subscribers.services.disclosures import partner_export_create
from subscribers.services.erasure import account_erase, subscriber_erase
from subscribers.services.errors import DisclosureError
from subscribers.wording import PUBLIC_SIGNUP
from tests.factories import ConfirmedSubscriberFactory, SubscriptionFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db

FORMULA_NAME = '=HYPERLINK("http://evil.example","Click")'


@pytest.fixture
def partner(db) -> Partner:
    return Partner.objects.create(
        name="Moonstone Gift Boxes",
        purpose="Offers of gift wrapping and engraving for jewellery",
        contract_reference="DSA-2026-07",
    )


STAFF_EMAIL = "officer@larkspur-lune.example"


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser(email=STAFF_EMAIL, password="pw")


def _subscribed(email: str, topic: Topic, *, first_name: str = "Kim") -> Subscriber:
    subscriber = ConfirmedSubscriberFactory(email=email, first_name=first_name)
    subscription_give(subscriber=subscriber, topic=topic, source=ConsentSource.PUBLIC_FORM, wording=PUBLIC_SIGNUP)
    return subscriber


@pytest.fixture
def crowd(general, staff) -> dict[str, Subscriber]:
    """One person of each kind on General Subscription, each made the way it happens in the product."""
    people = {
        "kept": _subscribed("kept@mail.example", general, first_name="Keira"),
        "formula": _subscribed("formula@mail.example", general, first_name=FORMULA_NAME),
    }
    # Objected from their own Newsletter Subscription page, keeping the newsletter itself
    user = UserFactory(email="customer.objector@mail.example")
    people["customer_objector"] = _subscribed(user.email, general)
    Subscriber.objects.filter(pk=people["customer_objector"].pk).update(user=user)
    client = Client()
    client.force_login(user)
    client.post("/account/newsletter/", {f"topic_{general.pk}": "on", "third_party_objection": "on"})
    # Objected by letter; staff recorded it from the request's page
    people["staff_objector"] = _subscribed("staff.objector@mail.example", general)
    request = rights_request_open(
        kind=RightsRequestKind.OBJECTION,
        channel=RightsRequestChannel.POST,
        received_on=timezone.localdate(),
        subscriber=people["staff_objector"],
    )
    officer = Client()
    officer.force_login(staff)
    officer.post(reverse("rights_admin:objection", args=[request.pk]))
    # Erased, after a request, through the erasure service
    people["erased"] = _subscribed("erased@mail.example", general)
    people["bounced"] = _subscribed("bounced@mail.example", general)
    address_bounced(email="bounced@mail.example", detail="5.1.1 user unknown")
    people["no_marketing"] = _subscribed("no.marketing@mail.example", general)
    suppression_add(
        email="no.marketing@mail.example", scope=SuppressionScope.MARKETING, reason=SuppressionReason.MANUAL
    )
    people["unsubscribed"] = _subscribed("unsubscribed@mail.example", general)
    subscription_withdraw(subscription=people["unsubscribed"].subscriptions.get(), source=ConsentSource.EMAIL_LINK)
    people["pending"] = ConfirmedSubscriberFactory(email="pending@mail.example")
    subscription_request(
        subscriber=people["pending"], topics=[general], source=ConsentSource.PUBLIC_FORM, wording=PUBLIC_SIGNUP
    )
    people["soft"] = SubscriptionFactory(
        subscriber__email="soft@mail.example", topic=general, lawful_basis=LawfulBasis.SOFT_OPT_IN
    ).subscriber
    subscriber_erase(subscriber=people["erased"], source=ErasureSource.STAFF, performed_by=staff)
    return people


EXCLUDED = (
    "customer_objector", "staff_objector", "erased", "bounced", "no_marketing", "unsubscribed", "pending", "soft"
)


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


# Who is in it ---------------------------------------------------------------------------------------------------------


def test_both_ways_of_objecting_put_the_address_on_the_third_party_scope(crowd):
    for key in ("customer_objector", "staff_objector"):
        assert Suppression.objects.filter(
            address_hmac=crowd[key].address_hmac, scope=SuppressionScope.THIRD_PARTY
        ).exists(), key
        assert crowd[key].subscriptions.get().status == SubscriptionStatus.ACTIVE, f"{key} still gets the newsletter"


def test_eligibility_includes_only_active_confirmed_consent_without_objection_or_suppression(crowd, general):
    included = set(partner_export_eligible(topic=general).values_list("subscriber__email", flat=True))

    assert included == {"kept@mail.example", "formula@mail.example"}


def test_the_summary_counts_each_person_left_out_once_by_reason(crowd, general):
    assert partner_export_summary(topic=general) == {
        "included": 2,
        "objected": 2,
        "suppressed": 2,  # the bounce (all scope) and the marketing suppression; the erased person is gone
        "not_active": 2,
        "soft_opt_in": 1,
    }


def test_an_address_without_its_hmac_cannot_be_checked_so_is_left_out(general):
    person = _subscribed("unhashed@mail.example", general)
    Subscriber.objects.filter(pk=person.pk).update(address_hmac="")

    assert not partner_export_eligible(topic=general).exists()
    assert partner_export_summary(topic=general)["suppressed"] == 1


# The export and its log -------------------------------------------------------------------------------------------


def test_export_holds_only_the_eligible_and_logs_the_disclosure_with_the_checksum_of_its_bytes(
    crowd, general, partner, staff
):
    disclosure, file = partner_export_create(partner=partner, topic=general, made_by=staff)
    data = file.read()

    rows = csv_rows(data)
    assert [row["email"] for row in rows] == ["formula@mail.example", "kept@mail.example"]
    assert list(rows[0]) == ["email", "first_name"], "only the fields a partner needs"
    for key in EXCLUDED:
        assert crowd[key].email.encode() not in data, key
    disclosure.refresh_from_db()
    assert disclosure.kind == DisclosureKind.PARTNER_EXPORT
    assert (disclosure.partner, disclosure.topic, disclosure.made_by) == (partner, general, staff)
    assert disclosure.made_by_email == "officer@larkspur-lune.example"
    assert (disclosure.recipient, disclosure.contract_reference) == ("Moonstone Gift Boxes", "DSA-2026-07")
    assert disclosure.row_count == 2
    assert disclosure.checksum == hashlib.sha256(data).hexdigest()
    assert disclosure.fields_shared == ["email", "first_name"]
    assert disclosure.file_name.startswith("moonstone-gift-boxes-general")
    linked = set(DisclosureRecipient.objects.filter(disclosure=disclosure).values_list("subscriber__email", flat=True))
    assert linked == {"kept@mail.example", "formula@mail.example"}


def test_formula_cells_are_neutralised(crowd, general, partner, staff):
    _, file = partner_export_create(partner=partner, topic=general, made_by=staff)

    row = next(r for r in csv_rows(file.read()) if r["email"] == "formula@mail.example")
    assert row["first_name"] == f"'{FORMULA_NAME}"


# Valid addresses a spreadsheet can do nothing with, and valid ones it would run as a formula.
HARMLESS_SIGNED_ADDRESSES = ("-x@mail.example", "+offers@mail.example")
FORMULA_ADDRESSES = ("=x@mail.example", "-a|b!c@mail.example")


def test_valid_addresses_are_written_exactly_unless_a_spreadsheet_could_run_them(general, partner, staff):
    for email in (*HARMLESS_SIGNED_ADDRESSES, *FORMULA_ADDRESSES):
        _subscribed(email, general, first_name="-Kim")

    _, file = partner_export_create(partner=partner, topic=general, made_by=staff)
    data = file.read()

    rows = csv_rows(data)
    assert sorted(row["email"] for row in rows) == sorted(
        [*HARMLESS_SIGNED_ADDRESSES, *(f"'{email}" for email in FORMULA_ADDRESSES)]
    )
    for email in HARMLESS_SIGNED_ADDRESSES:
        assert f"\r\n{email},'-Kim\r\n".encode() in data, "the address's exact bytes; other cells still escaped"


def test_an_inactive_partner_is_refused_and_nothing_is_logged(crowd, general, partner, staff):
    partner.is_active = False
    partner.save()

    with pytest.raises(DisclosureError, match="Moonstone Gift Boxes is inactive"):
        partner_export_create(partner=partner, topic=general, made_by=staff)

    assert not Disclosure.objects.exists() and not DisclosureRecipient.objects.exists()


def test_an_export_with_nobody_in_it_is_refused_and_nothing_is_logged(crowd, partner, staff):
    empty = TopicFactory(name="Private Sales")
    SubscriptionFactory(topic=empty, lawful_basis=LawfulBasis.SOFT_OPT_IN)

    with pytest.raises(DisclosureError, match="Nobody subscribed to Private Sales"):
        partner_export_create(partner=partner, topic=empty, made_by=staff)

    assert not Disclosure.objects.exists() and not DisclosureRecipient.objects.exists()


def test_the_included_persons_copy_of_their_data_shows_the_disclosure_and_an_excluded_ones_does_not(
    crowd, general, partner, staff
):
    partner_export_create(partner=partner, topic=general, made_by=staff)

    kept = access_export_tables(subscriber=crowd["kept"])["disclosures"]
    assert len(kept) == 1
    assert kept[0] | {"disclosed_at": ""} == {
        "disclosed_at": "",
        "kind": "Partner export",
        "recipient": "Moonstone Gift Boxes",
        "purpose": "Offers of gift wrapping and engraving for jewellery",
        "contract_reference": "DSA-2026-07",
        "topic": "General Subscription",
        "fields_shared": "email, first_name",
    }
    assert access_export_tables(subscriber=crowd["customer_objector"])["disclosures"] == []


def test_erasure_removes_the_person_from_the_disclosure_but_its_row_count_stays(crowd, general, partner, staff):
    disclosure, _ = partner_export_create(partner=partner, topic=general, made_by=staff)

    record = subscriber_erase(subscriber=crowd["kept"], source=ErasureSource.STAFF)

    disclosure.refresh_from_db()
    assert disclosure.row_count == 2
    assert disclosure.recipients.count() == 1
    assert record.counts["disclosure_links"] == 1


# The admin pages --------------------------------------------------------------------------------------------------


def staff_client(email: str, *codenames: str) -> Client:
    user = UserFactory(email=email, is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"),
        *Permission.objects.filter(content_type__app_label="subscribers", codename__in=codenames),
    )
    client = Client()
    client.force_login(User.objects.get(pk=user.pk))
    return client


def test_the_confirmation_shows_who_is_included_and_who_is_left_out_then_export_downloads_and_logs(
    crowd, general, partner
):
    client = staff_client("exporter@larkspur-lune.example", "export_to_partner")

    page = client.get(reverse("disclosures_admin:confirm"), {"partner": partner.pk, "topic": general.pk})
    html = page.content.decode()
    assert page.status_code == 200
    assert '<p class="disclosure-total" data-included>2</p>' in html
    assert 'data-reason="objected"><th scope="row">Objected to their details being shared</th><td>2</td>' in html
    assert "<td data-left-out-total>7</td>" in html
    assert not Disclosure.objects.exists(), "seeing the counts shares nothing"

    key = page.context["request_key"]
    response = client.post(
        reverse("disclosures_admin:confirm"), {"partner": partner.pk, "topic": general.pk, "request_key": key}
    )
    data = b"".join(response.streaming_content)

    disclosure = Disclosure.objects.get()
    assert response["Content-Disposition"] == f'attachment; filename="{disclosure.file_name}"'
    assert disclosure.checksum == hashlib.sha256(data).hexdigest()
    assert disclosure.made_by_email == "exporter@larkspur-lune.example"
    again = client.post(
        reverse("disclosures_admin:confirm"), {"partner": partner.pk, "topic": general.pk, "request_key": key}
    )
    assert again["Location"] == reverse("disclosures_admin:detail", args=[disclosure.pk])
    assert Disclosure.objects.count() == 1, "the same confirmation page sent twice exports once"
    log = client.get(reverse("disclosures_admin:index")).content.decode()
    assert f'data-disclosure="{disclosure.pk}"' in log
    detail = client.get(reverse("disclosures_admin:detail", args=[disclosure.pk])).content.decode()
    assert disclosure.checksum in detail


def test_counts_on_the_export_pages_have_thousands_separators(crowd, general, partner):
    # Given 1,003 more people who may be shared (the demo's audience, made in bulk): 1,005 in all
    call_command("seed_audience", count=1003)
    client = staff_client("exporter@larkspur-lune.example", "export_to_partner")

    page = client.get(reverse("disclosures_admin:confirm"), {"partner": partner.pk, "topic": general.pk})
    html = page.content.decode()
    client.post(
        reverse("disclosures_admin:confirm"),
        {"partner": partner.pk, "topic": general.pk, "request_key": page.context["request_key"]},
    )
    disclosure = Disclosure.objects.get()
    log = client.get(reverse("disclosures_admin:index")).content.decode()
    detail = client.get(reverse("disclosures_admin:detail", args=[disclosure.pk])).content.decode()

    assert '<p class="disclosure-total" data-included>1,005</p>' in html
    assert "Export 1,005 people as CSV" in html
    assert disclosure.row_count == 1005
    assert '<td data-rows>1,005</td>' in log
    assert "<dd data-rows>1,005</dd>" in detail


def test_staff_without_the_export_permission_are_refused_and_nothing_is_shared(crowd, general, partner):
    viewer = staff_client("auditor@larkspur-lune.example", "view_disclosure")
    outsider = staff_client("editor@larkspur-lune.example")
    form = {"partner": partner.pk, "topic": general.pk}

    for client in (viewer, outsider):
        assert client.get(reverse("disclosures_admin:export")).status_code == 302
        assert client.get(reverse("disclosures_admin:confirm"), form).status_code == 302
        response = client.post(reverse("disclosures_admin:confirm"), form)
        assert (response.status_code, response["Location"]) == (302, "/admin/"), "Wagtail's refusal"
    assert not Disclosure.objects.exists()
    assert viewer.get(reverse("disclosures_admin:index")).status_code == 200, "the log is readable with view"
    assert outsider.get(reverse("disclosures_admin:index")).status_code == 302
    assert "New partner export" not in viewer.get("/admin/").content.decode()


def test_an_inactive_partner_cannot_be_chosen(crowd, general, partner):
    partner.is_active = False
    partner.save()
    Partner.objects.create(name="Still Active Ltd", purpose="Offers", contract_reference="DSA-1")
    client = staff_client("exporter@larkspur-lune.example", "export_to_partner")

    response = client.post(reverse("disclosures_admin:confirm"), {"partner": partner.pk, "topic": general.pk})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose an active partner and an active topic." in html
    assert "Select a valid choice" in html
    assert "Moonstone" not in html, "an inactive partner is not offered"
    assert not Disclosure.objects.exists()


def test_staff_who_manage_partners_add_one_and_retire_it_but_nobody_deletes_it(partner, staff):
    manager = staff_client("contracts@larkspur-lune.example", "view_partner", "add_partner", "change_partner")

    manager.post(
        reverse("partners:add"),
        {"name": "Opal Insurance", "purpose": "Insurance offers", "contract_reference": "DSA-3", "is_active": "on"},
    )
    added = Partner.objects.get(name="Opal Insurance")
    assert added.is_active and added.contract_reference == "DSA-3"
    superuser = Client()
    superuser.force_login(staff)
    superuser.post(reverse("partners:delete", args=[partner.pk]))

    assert Partner.objects.filter(pk=partner.pk).exists(), "retired by unticking active, never deleted"


# The sale of the business -------------------------------------------------------------------------------------------


def test_the_business_transfer_archive_is_complete_its_checksums_verify_and_it_is_logged(crowd, staff, tmp_path):
    output = tmp_path / "sale.zip"
    out = io.StringIO()

    call_command(
        "export_business_transfer", output=str(output), recipient="Buyer Holdings Ltd", made_by=staff.email, stdout=out
    )

    archive = zipfile.ZipFile(output)
    manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest["files"]) | {"manifest.json"} == set(archive.namelist())
    for name, info in manifest["files"].items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == info["sha256"], name
    subscribers = csv_rows(archive.read("subscribers.csv"))
    assert {row["email"] for row in subscribers} == set(Subscriber.objects.values_list("email", flat=True))
    assert "customer.objector@mail.example" in {row["email"] for row in subscribers}, "objectors go with the business"
    events = csv_rows(archive.read("consent_events.csv"))
    assert {int(row["event_id"]) for row in events} == set(ConsentEvent.objects.values_list("pk", flat=True))
    assert all(row["privacy_policy_version"] for row in events if row["subscriber_id"])
    hmacs = {(row["address_hmac"], row["scope"]) for row in csv_rows(archive.read("suppressions.csv"))}
    assert (crowd["staff_objector"].address_hmac, "third_party") in hmacs
    assert b"erased@mail.example" not in b"".join(archive.read(name) for name in archive.namelist())
    assert manifest["hmac_key_check"]["hmac_sha256"] in archive.read("README.txt").decode()

    disclosure = Disclosure.objects.get(kind=DisclosureKind.BUSINESS_TRANSFER)
    checksum = hashlib.sha256(output.read_bytes()).hexdigest()
    assert disclosure.checksum == checksum and checksum in out.getvalue()
    assert (disclosure.recipient, disclosure.made_by, disclosure.partner) == ("Buyer Holdings Ltd", staff, None)
    assert disclosure.row_count == Subscriber.objects.count() == disclosure.recipients.count()
    assert access_export_tables(subscriber=crowd["soft"])["disclosures"][0]["kind"] == "Sale of the business"


def _registered_without_confirming(email: str, run_on_commit, *, newsletter: bool = False) -> User:
    """A customer who registered and never used the link proving their address: an account with no subscriber,
    or (having ticked the newsletter box) with a subscriber not yet linked to it."""
    details = RegistrationDetails(
        email=email, password="correct horse battery", first_name="Una", last_name="Verified",
        telephone="+441214960000", address_line1="2 Test Street", address_line2="", town="Birmingham", county="",
        postcode="B18 6AA", marketing_opt_in=newsletter,
    )
    with run_on_commit():
        user = account_register(details=details)
    assert Subscriber.objects.filter(email=email, user=None).exists() == newsletter
    return user


def test_a_registration_with_the_newsletter_not_yet_confirmed_is_one_person_in_the_sale(
    crowd, staff, tmp_path, run_on_commit
):
    user = _registered_without_confirming("una@mail.example", run_on_commit, newsletter=True)
    subscriber = Subscriber.objects.get(email="una@mail.example")

    call_command(
        "export_business_transfer",
        output=str(tmp_path / "sale.zip"),
        recipient="Buyer",
        made_by=STAFF_EMAIL,
        stdout=io.StringIO(),
    )

    disclosure = Disclosure.objects.get(kind=DisclosureKind.BUSINESS_TRANSFER)
    assert list(disclosure.recipients.filter(user=user).values_list("subscriber", flat=True)) == [subscriber.pk]
    assert disclosure.row_count == Subscriber.objects.count() == disclosure.recipients.count()


def test_an_account_never_confirmed_is_in_the_sale_and_its_copy_of_its_data_shows_it_once_confirmed(
    crowd, staff, tmp_path, outbox, run_on_commit
):
    # Given a customer with an account but no subscriber, when the business is sold
    user = _registered_without_confirming("una@mail.example", run_on_commit)
    output = tmp_path / "sale.zip"
    call_command(
        "export_business_transfer",
        output=str(output),
        recipient="Buyer Holdings Ltd",
        made_by=STAFF_EMAIL,
        stdout=io.StringIO(),
    )

    # Then the sale's list names their account, and counts them
    disclosure = Disclosure.objects.get(kind=DisclosureKind.BUSINESS_TRANSFER)
    assert disclosure.recipients.filter(user=user, subscriber=None).count() == 1
    assert disclosure.row_count == Subscriber.objects.count() + 1 == disclosure.recipients.count()
    linked = disclosure.recipients.get(subscriber=crowd["customer_objector"])
    assert linked.user.email == "customer.objector@mail.example", "a subscriber's account is named with them"
    assert {row["email"] for row in csv_rows(zipfile.ZipFile(output).read("accounts.csv"))} >= {user.email}

    # When they later confirm their address, becoming a subscriber, their copy of their data shows the sale
    link = re.search(r"/account/email/confirm/[^/\s]+/", outbox.last_to("una@mail.example").text).group(0)
    Client().post(link)
    subscriber = Subscriber.objects.get(user=user)
    shown = access_export_tables(subscriber=subscriber)["disclosures"]
    assert [(row["kind"], row["recipient"]) for row in shown] == [("Sale of the business", "Buyer Holdings Ltd")]

    # And erasing them removes the account's entry, while the disclosure's count stays as it was
    account_id = user.pk
    record = account_erase(user=user, source=ErasureSource.STAFF, performed_by=staff)

    assert record.counts["disclosure_links"] == 1
    disclosure.refresh_from_db()
    assert disclosure.row_count == disclosure.recipients.count() + 1
    assert not disclosure.recipients.filter(user_id=account_id).exists()


def test_erasing_an_account_never_confirmed_removes_it_from_the_sale(crowd, staff, tmp_path, run_on_commit):
    user = _registered_without_confirming("una@mail.example", run_on_commit)
    call_command(
        "export_business_transfer",
        output=str(tmp_path / "sale.zip"),
        recipient="Buyer",
        made_by=STAFF_EMAIL,
        stdout=io.StringIO(),
    )
    disclosure = Disclosure.objects.get(kind=DisclosureKind.BUSINESS_TRANSFER)
    row_count = disclosure.row_count

    record = account_erase(user=user, source=ErasureSource.SELF_SERVICE)

    assert record.counts["disclosure_links"] == 1
    disclosure.refresh_from_db()
    assert disclosure.row_count == row_count == disclosure.recipients.count() + 1


def test_a_disclosure_recipient_must_name_a_subscriber_or_an_account(crowd, staff, tmp_path):
    call_command(
        "export_business_transfer",
        output=str(tmp_path / "sale.zip"),
        recipient="Buyer",
        made_by=STAFF_EMAIL,
        stdout=io.StringIO(),
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        DisclosureRecipient.objects.create(disclosure=Disclosure.objects.get(), subscriber=None, user=None)


def test_the_business_transfer_writes_valid_addresses_exactly_unless_a_spreadsheet_could_run_them(
    crowd, staff, general, tmp_path
):
    for email in (*HARMLESS_SIGNED_ADDRESSES, *FORMULA_ADDRESSES):
        _subscribed(email, general)
    UserFactory(email="-shopper@mail.example")
    UserFactory(email="=shopper@mail.example")
    output = tmp_path / "sale.zip"

    call_command(
        "export_business_transfer", output=str(output), recipient="Buyer", made_by=STAFF_EMAIL, stdout=io.StringIO()
    )

    archive = zipfile.ZipFile(output)
    subscribers = {row["email"] for row in csv_rows(archive.read("subscribers.csv"))}
    assert set(HARMLESS_SIGNED_ADDRESSES) <= subscribers
    assert {f"'{email}" for email in FORMULA_ADDRESSES} <= subscribers
    assert not set(FORMULA_ADDRESSES) & subscribers
    accounts = {row["email"] for row in csv_rows(archive.read("accounts.csv"))}
    assert {"-shopper@mail.example", "'=shopper@mail.example"} <= accounts


def test_the_business_transfer_archive_holds_customers_policy_acknowledgements_with_a_checksum(
    crowd, staff, tmp_path
):
    # Given a customer and a staff member who both acknowledged the version in force
    version = privacy_policy_publish(version="2.0", text="Our policy, revised.", summary="We keep less.")
    customer = User.objects.get(email="customer.objector@mail.example")
    acknowledged = privacy_policy_acknowledge(user=customer, version=version)
    privacy_policy_acknowledge(user=staff, version=version)
    output = tmp_path / "sale.zip"

    call_command(
        "export_business_transfer", output=str(output), recipient="Buyer", made_by=STAFF_EMAIL, stdout=io.StringIO()
    )

    archive = zipfile.ZipFile(output)
    data = archive.read("policy_acknowledgements.csv")
    assert csv_rows(data) == [
        {
            "account_id": str(customer.pk),
            "privacy_policy_version": "2.0",
            "acknowledged_at": acknowledged.acknowledged_at.isoformat(),
        }
    ], "the customer's acknowledgement; staff accounts are not handed over"
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["files"]["policy_acknowledgements.csv"] == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "rows": 1,
    }
    assert "- policy_acknowledgements.csv: 1 row\n" in archive.read("README.txt").decode()
    assert "policy_acknowledgements.csv" in Disclosure.objects.get().fields_shared


def test_the_business_transfer_refuses_an_existing_file_and_logs_nothing(crowd, staff, tmp_path):
    output = tmp_path / "sale.zip"
    output.write_bytes(b"earlier work")

    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "export_business_transfer", output=str(output), recipient="Buyer Holdings Ltd", made_by=STAFF_EMAIL
        )

    assert output.read_bytes() == b"earlier work"
    assert not Disclosure.objects.exists()


def test_the_business_transfer_refuses_an_unknown_staff_member_before_writing(crowd, tmp_path):
    output = tmp_path / "sale.zip"

    with pytest.raises(CommandError, match=r"no staff account has the address nobody@larkspur-lune\.example"):
        call_command(
            "export_business_transfer", output=str(output), recipient="Buyer", made_by="nobody@larkspur-lune.example"
        )

    assert not output.exists() and not Disclosure.objects.exists()


# The demo ---------------------------------------------------------------------------------------------------------


def test_seed_demo_creates_one_partner_to_try_the_export_with(outbox):
    call_command("seed_demo")
    call_command("seed_demo")

    partner = Partner.objects.get()
    assert partner.is_active
    general = Topic.objects.get(is_default=True)
    assert partner_export_summary(topic=general)["included"] >= 1
