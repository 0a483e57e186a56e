"""A person's copy of their data: everything about them, nothing about anyone else, sent only to their confirmed
address, gone after its expiry. In campaigns' tests because the copy includes the emails sent to them."""

import hashlib
import io
import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.template.defaultfilters import filesizeformat
from django.test import Client
from django.utils import timezone
from django.utils.formats import date_format

from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from subscribers.models import (
    AccessExport,
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    ConsentSource,
    DetailsChange,
    ErasureSource,
    Partner,
    PrivacyPolicyVersion,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from subscribers.services import privacy_policy_acknowledge, subscriber_get_or_create, suppression_add
from subscribers.services.access_export import (
    access_export_chunks,
    access_export_for_token,
    access_export_request,
    access_exports_purge,
)
from subscribers.services.disclosures import partner_export_create
from subscribers.services.erasure import subscriber_erase
from subscribers.services.errors import AccessExportError
from tests.factories import SubscriberFactory, SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db
LINK = re.compile(r"https?://\S+(/account/privacy/export/[^/\s]+/)")
TABLES = {
    "account",
    "attributes",
    "automation_emails_sent",
    "automations",
    "consent_history",
    "corrections",
    "disclosures",
    "email_processing",
    "emails_sent",
    "privacy_policy_acknowledgements",
    "profile",
    "requests",
    "subscriber",
    "subscriptions",
    "suppressions",
}


def make_person(email: str, *, phone: str, first_name: str):
    user = UserFactory(email=email, first_name=first_name)
    user.profile.telephone = phone
    user.profile.save()
    DetailsChange.objects.create(user=user, fields=["telephone"])
    subscriber = subscriber_get_or_create(email=email, first_name=first_name, user=user)
    subscriber.email_confirmed_at = timezone.now()
    subscriber.save()
    general = Topic.objects.get(is_default=True)
    SubscriptionFactory(subscriber=subscriber, topic=general)
    ConsentEvent.objects.create(
        subscriber=subscriber,
        topic=general,
        purpose=ConsentPurpose.MARKETING,
        action=ConsentAction.CONFIRMED,
        source=ConsentSource.EMAIL_LINK,
        policy_version=PrivacyPolicyVersion.objects.latest(),
        ip_truncated="198.51.100.0",
    )
    privacy_policy_acknowledge(user=user, version=PrivacyPolicyVersion.objects.latest())
    return subscriber


@pytest.fixture
def people(campaign, settings, tmp_path):
    settings.SES_MAX_SEND_RATE = 1000
    settings.ACCESS_EXPORT_ROOT = tmp_path / "exports"
    mine = make_person("maya@mail.example", phone="+447700900111", first_name='=HYPERLINK("http://x")')
    other = make_person("otto@mail.example", phone="+447700900999", first_name="Otto")
    # Both were shared with a partner before Maya objected; Otto alone was in a second export after it.
    partner = Partner.objects.create(name="Otter & Co", purpose="Gift offers", contract_reference="DSA-9")
    general = Topic.objects.get(is_default=True)
    partner_export_create(partner=partner, topic=general, made_by=None)
    suppression_add(email=mine.email, scope=SuppressionScope.THIRD_PARTY, reason=SuppressionReason.OBJECTED)
    partner_export_create(partner=partner, topic=general, made_by=None)
    send = send_start(send=send_create(page=campaign))
    send_work(send_id=send.pk)
    send.deliveries.filter(subscriber=mine).update(clicked_at=timezone.now())  # she followed a link in it
    return mine, other


def request_and_download(subscriber, outbox, capture) -> tuple[bytes, AccessExport]:
    with capture(execute=True):
        export = access_export_request(subscriber=subscriber)
    path = LINK.search(outbox.last_to(subscriber.email).text)[1]
    response = Client().post(path)  # the page's "Download my data" button
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"] == 'attachment; filename="my-data.zip"'
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    data = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(data)
    export.refresh_from_db()
    return data, export


def test_the_copy_holds_every_table_about_the_person_and_nothing_of_anyone_else(
    people, outbox, django_capture_on_commit_callbacks, settings
):
    mine, _other = people

    data, export = request_and_download(mine, outbox, django_capture_on_commit_callbacks)

    archive = zipfile.ZipFile(io.BytesIO(data))
    tables = json.loads(archive.read("data.json"))
    assert set(tables) == TABLES
    assert {f"{name}.csv" for name in TABLES} | {"README.txt", "data.json"} == set(archive.namelist())
    assert tables["subscriber"][0]["email"] == "maya@mail.example"
    assert tables["profile"][0]["telephone"] == "+447700900111"
    assert tables["subscriptions"][0]["status"] == "Active"
    assert tables["consent_history"][0]["privacy_policy_version"] == PrivacyPolicyVersion.objects.latest().version
    assert tables["consent_history"][0]["ip_address_truncated"] == "198.51.100.0"
    assert tables["suppressions"] == [
        {"scope": "Sharing with third parties", "reason": "Objected", "since": tables["suppressions"][0]["since"]}
    ]
    assert tables["emails_sent"][0]["campaign"] == "Winter collection"
    assert tables["emails_sent"][0]["state"] == "Accepted by SES"
    assert tables["emails_sent"][0]["first_clicked_at"]
    assert tables["corrections"][0]["fields_changed"] == "telephone"
    assert [row["privacy_policy_version"] for row in tables["privacy_policy_acknowledgements"]] == ["1.0"]
    assert tables["privacy_policy_acknowledgements"][0]["acknowledged_at"]
    assert tables["email_processing"][0]["region"] == settings.SES_REGION
    assert [(d["recipient"], d["contract_reference"]) for d in tables["disclosures"]] == [("Otter & Co", "DSA-9")]
    everything = b"".join(archive.read(name) for name in archive.namelist()).decode()
    for trace in ("otto@mail.example", "+447700900999", "Otto"):
        assert trace not in everything
    assert export.downloaded_at is not None
    assert export.checksum == hashlib.sha256(data).hexdigest()


def test_the_link_in_the_email_opens_a_page_about_the_copy_and_downloads_nothing(
    people, outbox, django_capture_on_commit_callbacks, settings
):
    # Given a copy whose link was emailed (the link format of emails already sent)
    mine, _ = people
    with django_capture_on_commit_callbacks(execute=True):
        export = access_export_request(subscriber=mine)
    path = LINK.search(outbox.last_to(mine.email).text)[1]
    export.refresh_from_db()
    size = (Path(settings.ACCESS_EXPORT_ROOT) / export.file_name).stat().st_size

    # When the link is fetched, as a person or a mail scanner does, several times
    responses = [Client().get(path) for _ in range(3)]

    # Then each answer is a page (no file) with the size, the expiry and a button, and nothing is recorded
    for response in responses:
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        assert "Content-Disposition" not in response
        assert "no-store" in response["Cache-Control"]
    page = responses[0].content.decode()
    assert "Your copy of your data" in page
    assert f"my-data.zip, {filesizeformat(size)}" in page
    assert f"{date_format(timezone.localtime(export.expires_at), 'j F Y, H:i')} (in 6" in page
    assert re.search(r'<form method="post">\s*<input type="hidden" name="csrfmiddlewaretoken"', page)
    assert "Download my data (" in page
    export.refresh_from_db()
    assert export.downloaded_at is None


def test_the_download_is_recorded_only_once_the_whole_file_has_been_sent(
    people, outbox, django_capture_on_commit_callbacks
):
    mine, _ = people
    with django_capture_on_commit_callbacks(execute=True):
        export = access_export_request(subscriber=mine)
    path = LINK.search(outbox.last_to(mine.email).text)[1]

    # A download abandoned after its first chunk is not recorded (a server closes the response's iterator when
    # the connection drops, so the generator stops where it was)
    export, file = access_export_for_token(token=path.rstrip("/").rsplit("/", 1)[1])
    abandoned = access_export_chunks(export=export, path=file)
    assert next(abandoned)
    abandoned.close()
    export.refresh_from_db()
    assert export.downloaded_at is None
    # Nor is a POST whose answer is never read
    Client().post(path)
    export.refresh_from_db()
    assert export.downloaded_at is None

    # A complete one is, and the page then says when
    b"".join(Client().post(path).streaming_content)
    export.refresh_from_db()
    assert export.downloaded_at is not None
    assert "Downloaded</dt>" in Client().get(path).content.decode()


def test_the_download_button_needs_the_pages_csrf_token(people, outbox, django_capture_on_commit_callbacks):
    mine, _ = people
    with django_capture_on_commit_callbacks(execute=True):
        export = access_export_request(subscriber=mine)
    path = LINK.search(outbox.last_to(mine.email).text)[1]
    browser = Client(enforce_csrf_checks=True)

    assert browser.post(path).status_code == 403

    browser.get(path)  # the page sets the CSRF cookie its form needs
    response = browser.post(path, {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("README.txt")
    export.refresh_from_db()
    assert export.downloaded_at is not None


def test_a_copy_whose_file_is_missing_says_so_on_the_page_and_the_button(
    people, outbox, django_capture_on_commit_callbacks, settings
):
    mine, _ = people
    with django_capture_on_commit_callbacks(execute=True):
        export = access_export_request(subscriber=mine)
    path = LINK.search(outbox.last_to(mine.email).text)[1]
    export.refresh_from_db()
    (Path(settings.ACCESS_EXPORT_ROOT) / export.file_name).unlink()

    for response in (Client().get(path), Client().post(path)):
        assert response.status_code == 410
        assert "This copy has been deleted" in response.content.decode()


def test_csv_cells_cannot_run_as_formulas(people, outbox, django_capture_on_commit_callbacks):
    mine, _ = people

    data, _ = request_and_download(mine, outbox, django_capture_on_commit_callbacks)

    subscriber_csv = zipfile.ZipFile(io.BytesIO(data)).read("subscriber.csv").decode()
    assert "'=HYPERLINK" in subscriber_csv
    assert ",=HYPERLINK" not in subscriber_csv and not subscriber_csv.startswith("=")


def test_an_unconfirmed_address_gets_no_copy(db):
    with pytest.raises(AccessExportError, match="never confirmed"):
        access_export_request(subscriber=SubscriberFactory(email_confirmed_at=None))
    assert not AccessExport.objects.exists()


def test_links_stop_working_when_they_expire_and_the_file_is_deleted(
    people, outbox, django_capture_on_commit_callbacks, settings
):
    mine, _ = people
    with django_capture_on_commit_callbacks(execute=True):
        export = access_export_request(subscriber=mine)
    path = LINK.search(outbox.last_to(mine.email).text)[1]
    export.refresh_from_db()
    file = Path(settings.ACCESS_EXPORT_ROOT) / export.file_name
    assert file.exists()

    AccessExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert access_exports_purge() == 1

    assert not file.exists()
    response = Client().get(path)
    assert response.status_code == 410
    assert "This copy has been deleted" in response.content.decode()
    assert Client().get("/account/privacy/export/forged.token/").status_code == 410


def test_erasure_deletes_the_persons_copies(people, outbox, django_capture_on_commit_callbacks, settings):
    mine, _ = people
    with django_capture_on_commit_callbacks(execute=True):
        export = access_export_request(subscriber=mine)
    export.refresh_from_db()
    file = Path(settings.ACCESS_EXPORT_ROOT) / export.file_name

    record = subscriber_erase(subscriber=mine, source=ErasureSource.STAFF)

    assert not file.exists() and record.counts["access_export_files"] == 1


def test_a_customer_asks_from_the_privacy_page(people, outbox, django_capture_on_commit_callbacks):
    mine, _ = people
    client = Client()
    client.force_login(mine.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/account/privacy/export/", follow=True)

    assert "A download link will arrive at maya@mail.example" in response.content.decode()
    assert LINK.search(outbox.last_to("maya@mail.example").text)
    unproven = UserFactory(email="new@mail.example")
    client.force_login(unproven)
    page = client.post("/account/privacy/export/", follow=True).content.decode()
    assert "Confirm your email address first" in page
