"""The privacy officer's role: every privacy area opens for them and for nobody else, each of this app's staff
actions refuses whoever lacks its permission (changing nothing), and each one a privacy officer takes is in
Wagtail's audit log under its own action type, naming them and never the person it was about."""

import io
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from wagtail.models import ModelLogEntry

from subscribers.errors import ActionForbidden
from subscribers.models import (
    Disclosure,
    ErasureSource,
    Partner,
    PrivacyPolicyVersion,
    RightsRequest,
    Subscriber,
    SubscriberImport,
    Topic,
    User,
)
from subscribers.services import privacy_policy_publish
from subscribers.services.business_transfer import business_transfer_export
from subscribers.services.disclosures import partner_export_create
from subscribers.services.erasure import subscriber_erase
from subscribers.services.imports.jobs import import_options_save, import_start, import_upload
from subscribers.services.rights import rights_request_close, rights_request_open
from tests.factories import EDITORS, PRIVACY_OFFICERS, SENDERS, SubscriptionFactory, UserFactory, staff_in_role

pytestmark = pytest.mark.django_db

PRIVACY_AREAS = [
    reverse("rights_admin:index"),
    reverse("disclosures_admin:index"),
    reverse("disclosures_admin:export"),
    reverse("imports_admin:index"),
    reverse("privacy_policy_versions:add"),
]
CSV = "email,first_name,source,consent_date,consent_wording\nann@mail.example,Ann,Shop,2024-05-01,Yes please\n"


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.IMPORT_FILE_ROOT = tmp_path / "imports"


@pytest.fixture
def officer(db) -> User:
    return staff_in_role(PRIVACY_OFFICERS, "officer@larkspur-lune.example")


@pytest.fixture
def partner(db) -> Partner:
    return Partner.objects.create(name="Otter & Co", purpose="Gift offers", contract_reference="DSA-9")


@pytest.fixture
def reader(db) -> Subscriber:
    general = Topic.objects.get(is_default=True)
    return SubscriptionFactory(topic=general, subscriber__email="zoe@mail.example").subscriber


def test_a_privacy_officer_opens_every_privacy_area(client, officer):
    client.force_login(officer)
    for url in PRIVACY_AREAS:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", [EDITORS, SENDERS])
def test_the_campaign_roles_are_refused_every_privacy_area(client, role):
    client.force_login(staff_in_role(role, "campaigns@larkspur-lune.example"))
    for url in PRIVACY_AREAS:
        response = client.get(url)
        assert (response.status_code, response["Location"]) == (302, reverse("wagtailadmin_home")), url


@pytest.mark.parametrize("role", [EDITORS, SENDERS, None])
def test_every_privacy_action_refuses_whoever_lacks_its_permission_and_changes_nothing(tmp_path, partner, reader, role):
    someone = staff_in_role(role, "someone@larkspur-lune.example") if role else UserFactory(is_staff=True)
    general = Topic.objects.get(is_default=True)
    officer = staff_in_role(PRIVACY_OFFICERS, "officer@larkspur-lune.example")
    request = rights_request_open(
        kind="erasure", channel="email", received_on=date.today(), subscriber=reader, created_by=officer
    )
    versions, entries = PrivacyPolicyVersion.objects.count(), ModelLogEntry.objects.count()

    refused = {
        "export subscribers to a partner": lambda: partner_export_create(
            partner=partner, topic=general, made_by=someone
        ),
        "export every subscriber's data for a sale": lambda: business_transfer_export(
            output=tmp_path / "sale.zip", recipient="Buyer Holdings Ltd", made_by=someone
        ),
        "publish a privacy policy version": lambda: privacy_policy_publish(
            version="9.0", text="Revised.", summary="Less.", published_by=someone
        ),
        "import subscribers": lambda: import_upload(
            upload=SimpleUploadedFile("people.csv", CSV.encode()), created_by=someone
        ),
        "erase a person": lambda: subscriber_erase(
            subscriber=reader, source=ErasureSource.STAFF, performed_by=someone, rights_request=request
        ),
        "record a privacy request": lambda: rights_request_open(
            kind="access", channel="email", received_on=date.today(), subscriber=reader, created_by=someone
        ),
        "close a privacy request": lambda: rights_request_close(request=request, status="refused", closed_by=someone),
    }
    for action, call in refused.items():
        with pytest.raises(ActionForbidden, match=f"You may not {action}"):
            call()

    assert not Disclosure.objects.exists() and not (tmp_path / "sale.zip").exists()
    assert PrivacyPolicyVersion.objects.count() == versions and not SubscriberImport.objects.exists()
    assert Subscriber.objects.filter(pk=reader.pk).exists()
    assert RightsRequest.objects.get().status == "open"
    assert ModelLogEntry.objects.count() == entries


def test_a_privacy_officers_actions_are_each_in_the_audit_log_naming_them_and_not_the_person(
    client, tmp_path, officer, partner, reader
):
    general = Topic.objects.get(is_default=True)
    SubscriptionFactory(topic=general)  # someone left after the erasure, for the exports

    # The officer imports a file (dry run), publishes a policy, erases someone, then exports twice
    job = import_upload(upload=SimpleUploadedFile("people.csv", CSV.encode()), created_by=officer)
    job = import_options_save(
        job=job, mapping=job.mapping, topic=general, source="", policy_version="", skip_bad_rows=False
    )
    import_start(job=job, dry_run=True, user=officer)
    privacy_policy_publish(version="9.0", text="Revised.", summary="Less.", published_by=officer)
    request = rights_request_open(
        kind="erasure", channel="email", received_on=date.today(), subscriber=reader, created_by=officer
    )
    subscriber_erase(subscriber=reader, source=ErasureSource.STAFF, performed_by=officer, rights_request=request)
    partner_export_create(partner=partner, topic=general, made_by=officer)
    call_command(
        "export_business_transfer",
        output=str(tmp_path / "sale.zip"),
        recipient="Buyer Holdings Ltd",
        made_by=officer.email,
        stdout=io.StringIO(),
    )

    # Then each is logged, in order, under its own action type, with the officer
    entries = ModelLogEntry.objects.filter(action__startswith="subscribers.").order_by("pk")
    assert [(e.action, e.user_id) for e in entries] == [
        ("subscribers.import_dry_run", officer.pk),
        ("subscribers.privacy_policy_publish", officer.pk),
        ("subscribers.erase", officer.pk),
        ("subscribers.partner_export", officer.pk),
        ("subscribers.business_transfer_export", officer.pk),
    ]
    erased = entries.get(action="subscribers.erase")
    assert erased.data["counts"]["subscriptions"] == 1 and erased.data["request"] == request.pk
    assert "zoe" not in f"{erased.label} {erased.data}"  # who was erased is nowhere in the log
    assert entries.get(action="subscribers.partner_export").data["people"] == 1

    # And the site history lists them by action and by user, in their own words
    client.force_login(User.objects.create_superuser(email="admin@larkspur-lune.example", password="unused"))
    report = reverse("wagtailadmin_reports:site_history")
    erasures = client.get(report, {"action": "subscribers.erase", "user": officer.pk}).content.decode()
    assert "Erased a person&#x27;s data at their request" in erasures
    assert "Exported subscribers&#x27; details to a partner" not in erasures
    everything = client.get(report, {"user": officer.pk}).content.decode()
    for sentence in ("Checked a subscriber import (dry run)", "Exported subscribers&#x27; details to a partner"):
        assert sentence in everything


def test_the_sale_export_command_names_who_is_responsible_and_refuses_who_may_not(tmp_path):
    editor = staff_in_role(EDITORS, "writer@larkspur-lune.example")
    output = tmp_path / "sale.zip"

    with pytest.raises(CommandError, match="You may not export every subscriber's data for a sale"):
        call_command("export_business_transfer", output=str(output), recipient="Buyer", made_by=editor.email)
    assert not output.exists() and not Disclosure.objects.exists()
