"""Bad input at every way in, public and admin: NUL bytes, invalid UTF-8, overlong values and line breaks in
single-line fields. Each form answers with a clear error beside the field (never a 500) and stores nothing bad;
the CSV import, in the admin and on the command line, refuses such files and rows the same way."""

import html
import io
from urllib.parse import urlencode

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from campaigns.authoring.demo_content import demo_campaign
from subscribers.links import preferences_url, unsubscribe_url
from subscribers.models import (
    ConsentEvent,
    CustomerProfile,
    Partner,
    PrivacyPolicyVersion,
    RightsRequest,
    Subscriber,
    SubscriberImport,
    User,
)
from tests.factories import SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db

NUL = "Ann\x00e"
LINE_BREAK = "Ann\r\nBcc: someone@elsewhere.example"
OVERLONG = "A" * 5000
# Bytes that are not UTF-8, percent-encoded as a browser would send them.
INVALID_UTF8 = b"Ann%FF%FEe"

REGISTRATION = {
    "first_name": "Ada",
    "last_name": "Byron",
    "email": "ada.new@mail.example",
    "telephone": "0121 496 0000",
    "address_line1": "1 Test Street",
    "address_line2": "",
    "town": "Birmingham",
    "county": "",
    "postcode": "B18 6AA",
    "password1": "a long and unusual passphrase",
    "password2": "a long and unusual passphrase",
}
DETAILS = {k: v for k, v in REGISTRATION.items() if k not in ("email", "password1", "password2")}

# Every text column a form or an import writes, where a line break, a NUL or an overlong value must never land.
STORED_TEXT = [
    (User, ("first_name", "last_name")),
    (CustomerProfile, ("address_line1", "address_line2", "town", "county")),
    (Subscriber, ("first_name",)),
    (ConsentEvent, ("detail",)),
    (RightsRequest, ("note", "outcome")),
    (Partner, ("name", "purpose", "contract_reference")),
    (PrivacyPolicyVersion, ("summary",)),
    (SubscriberImport, ("file_name",)),
]


def bad_text_stored() -> list[str]:
    found = []
    for model, fields in STORED_TEXT:
        for name in fields:
            for bad in ("\r", "\n", "A" * 500, "\ufffd"):  # (PostgreSQL cannot store a NUL at all)
                if model.objects.filter(**{f"{name}__contains": bad}).exists():
                    found.append(f"{model.__name__}.{name} holds {bad[:3]!r}")
    return found


@pytest.fixture
def customer(client):
    user = UserFactory(email="ada@mail.example", with_profile=True)
    client.force_login(user)
    return user


@pytest.fixture
def admin(client, settings, tmp_path):
    settings.IMPORT_FILE_ROOT = tmp_path / "imports"
    settings.MEDIA_ROOT = tmp_path
    user = UserFactory(email="staff@shop.example", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def post_each(client, url: str, valid: dict, field: str, bad_values=(NUL, LINE_BREAK, OVERLONG, INVALID_UTF8)):
    """The form at ``url`` posted with each bad value in ``field`` (the other fields valid); the responses."""
    responses = []
    for bad in bad_values:
        if bad == INVALID_UTF8:
            others = urlencode({k: v for k, v in valid.items() if k != field}).encode()
            body = others + b"&" + field.encode() + b"=" + INVALID_UTF8
            form_type = "application/x-www-form-urlencoded"
            responses.append(("invalid UTF-8", client.post(url, body, content_type=form_type)))
        else:
            responses.append((bad, client.post(url, {**valid, field: bad})))
    return responses


def assert_refused_beside_the_field(responses, field: str, *, form: str = "form"):
    for bad, response in responses:
        assert response.status_code == 200, f"{field} = {bad[:20]!r} was accepted ({response.status_code})"
        assert form in response.context, f"{field} = {bad[:20]!r} was accepted"
        errors = response.context[form].errors
        assert field in errors, f"{field} = {bad[:20]!r}: no error beside the field ({errors})"
        message = " ".join(errors[field])
        assert any(
            words in message
            for words in (
                "Null characters", "on one line", "at most", "longer than", "Enter a valid", "not UTF-8",
                "not a version",
            )
        ), message
        page = html.unescape(response.content.decode())
        assert all(error in page for error in errors[field]), f"the error must be on the page: {message}"


PUBLIC_FORMS = [
    ("accounts:register", REGISTRATION, ["first_name", "last_name", "email", "address_line1", "town"]),
    ("newsletter:subscribe", {"email": "sam@mail.example", "first_name": "Sam"}, ["email", "first_name"]),
]


@pytest.mark.parametrize(("url_name", "valid", "fields"), PUBLIC_FORMS)
def test_public_forms_refuse_nul_line_breaks_and_overlong_values_beside_the_field(
    client, settings, url_name, valid, fields
):
    settings.SUBSCRIBE_RATE_PER_IP = settings.SUBSCRIBE_RATE_PER_ADDRESS = "1000/h"
    for field in fields:
        assert_refused_beside_the_field(post_each(client, reverse(url_name), valid, field), field)
    assert not User.objects.exists()
    assert not Subscriber.objects.exists()
    assert bad_text_stored() == []


def test_login_with_a_nul_a_line_break_or_an_overlong_address_is_a_form_error(client):
    UserFactory(email="ada@mail.example")
    for field in ("username", "password"):
        for bad, response in post_each(
            client, reverse("accounts:login"), {"username": "ada@mail.example", "password": "x"}, field
        ):
            assert response.status_code == 200, f"{field} = {bad[:20]!r}"
            assert response.context["form"].errors, f"{field} = {bad[:20]!r}"
    assert_refused_beside_the_field(
        post_each(client, reverse("accounts:login"), {"username": "ada@mail.example", "password": "x"}, "username"),
        "username",
    )
    assert "_auth_user_id" not in client.session


def test_account_details_refuse_bad_values_and_keep_the_old_ones(client, customer):
    details = {f"details-{name}": value for name, value in DETAILS.items()}
    for field in ("first_name", "last_name", "address_line1", "address_line2", "town", "county"):
        responses = post_each(client, reverse("account:details"), details, f"details-{field}")
        assert_refused_beside_the_field(responses, field, form="details_form")
    customer.refresh_from_db()
    assert customer.first_name == "Ada"
    assert bad_text_stored() == []


def test_unsubscribe_reason_on_one_line_and_preferences_with_bad_values_never_fail(client, general):
    subscription = SubscriptionFactory(topic=general)
    url = unsubscribe_url(subscription=subscription)
    assert_refused_beside_the_field(
        post_each(client, url, {"scope": "topic", "reason": "other", "reason_text": "Too much"}, "reason_text"),
        "reason_text",
    )
    subscription.refresh_from_db()
    assert subscription.status == "active"

    # Tick boxes and choices: a bad value is read as a tick, or refused; never a 500.
    preferences = preferences_url(subscriber=subscription.subscriber)
    for bad, response in post_each(client, preferences, {f"topic_{general.pk}": "on"}, "third_party_objection"):
        assert response.status_code < 500, bad[:20]
    for bad, response in post_each(client, url, {"scope": "topic"}, "scope"):
        assert response.status_code < 500, bad[:20]
    assert bad_text_stored() == []


def test_admin_forms_refuse_bad_values_beside_the_field(client, admin, general):
    subscriber = SubscriptionFactory(topic=general).subscriber
    forms = [
        (
            reverse("rights_admin:record"),
            {"kind": "access", "channel": "email", "received_on": "2026-01-05", "email": subscriber.email, "note": "x"},
            ["note", "email"],
        ),
        (
            reverse("partners:add"),
            {"name": "Gem Post", "purpose": "Catalogues", "contract_reference": "DSA-1", "is_active": "on"},
            ["name", "purpose", "contract_reference"],
        ),
        (
            reverse("privacy_policy_versions:add"),
            {"version": "9.0", "summary": "What changed.", "text": "The policy.", "published_at": ""},
            ["summary", "text", "version"],
        ),
    ]
    # Line breaks in a summary are run together into one line, and a policy's text is many lines of any length.
    allowed = {"summary": (LINE_BREAK,), "text": (LINE_BREAK, OVERLONG)}
    for url, valid, fields in forms:
        for field in fields:
            bad_values = [v for v in (NUL, LINE_BREAK, OVERLONG, INVALID_UTF8) if v not in allowed.get(field, ())]
            assert_refused_beside_the_field(post_each(client, url, valid, field, bad_values), field)
    assert not RightsRequest.objects.exists()
    assert not Partner.objects.exists()
    assert not PrivacyPolicyVersion.objects.filter(version="9.0").exists()
    assert bad_text_stored() == []


def test_closing_a_rights_request_refuses_an_outcome_over_two_lines(client, admin, general):
    from subscribers.services import rights_request_open

    subscriber = SubscriptionFactory(topic=general).subscriber
    request = rights_request_open(
        kind="access", channel="email", received_on=timezone.localdate(), subscriber=subscriber, created_by=admin
    )
    url = reverse("rights_admin:close", args=[request.pk])
    for bad, response in post_each(client, url, {"status": "refused"}, "outcome"):
        assert response.status_code == 302, bad[:20]  # back to the request's page, with the error as a message
        said = [str(m) for m in get_messages(response.wsgi_request)]
        assert said[-1].startswith("The request was not closed.") and "incomplete" not in said[-1], said
    request.refresh_from_db()
    assert request.status == "open"
    assert bad_text_stored() == []


def test_test_send_addresses_with_nul_line_breaks_or_overlong_text_are_a_form_error(client, admin, outbox):
    page = demo_campaign()
    url = reverse("campaigns_admin:test_send", args=[page.pk])
    for bad in ("a@example.com\x00", "a@example.com\r\nBcc: b@example.com", "a@example.com " * 5000):
        response = client.post(url, {"addresses": bad})
        assert response.status_code == 200
        assert response.context["form"].errors["addresses"]
    assert outbox.all() == []


def upload(client, content: bytes, name: str = "people.csv"):
    return client.post(reverse("imports_admin:index"), {"file": SimpleUploadedFile(name, content)})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Em\x00ail,First name\nann@mail.example,Ann\n", "Line 1 holds a NUL byte (byte 3 of the file)"),
        ("Email\n".encode("utf-16"), "holds a NUL byte"),
        (b"Email,Na\xffme\nann@mail.example,Ann\n", "Line 1 is not UTF-8"),
        (b"Email," + b"x" * 2_000_000 + b"\n", "longer than"),
    ],
)
def test_an_upload_with_nul_bytes_invalid_utf8_or_an_overlong_line_is_refused_and_removed(
    client, admin, settings, content, message
):
    response = upload(client, content)

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["file"])
    assert not SubscriberImport.objects.exists()
    assert not any(settings.IMPORT_FILE_ROOT.iterdir()), "the refused file must not stay on disk"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (b"ann@mail.example,An\x00n", "Line 2 holds a NUL byte"),
        (b"ann@mail.example,Ann\xff", "Line 2 is not UTF-8"),
    ],
)
def test_a_nul_or_invalid_utf8_below_the_header_refuses_the_file_at_the_dry_run(
    client, admin, general, settings, django_capture_on_commit_callbacks, row, message
):
    upload(client, b"Email,First name\n" + row + b"\n")
    job = SubscriberImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports_admin:mapping", args=[job.pk]), {"map_email": "Email", "topic": general.pk})

    job.refresh_from_db()
    assert job.status == "refused" and message in job.message
    assert message in client.get(reverse("imports_admin:detail", args=[job.pk])).content.decode()
    assert not any(settings.IMPORT_FILE_ROOT.iterdir())


def test_an_upload_whose_name_holds_a_nul_is_kept_under_a_clean_name(client, admin, settings):
    response = upload(client, b"Email\nann@mail.example\n", name="peo\x00ple.csv")

    assert response.status_code == 302
    assert SubscriberImport.objects.get().file_name == "people.csv"


def test_the_mapping_refuses_a_whole_file_source_over_two_lines(client, admin, general):
    upload(client, b"Email,Consent date,Consent wording\nann@mail.example,2024-05-01,Yes\n")
    job = SubscriberImport.objects.get()
    url = reverse("imports_admin:mapping", args=[job.pk])
    valid = {"map_email": "Email", "map_consent_date": "Consent date", "map_consent_wording": "Consent wording",
             "topic": general.pk, "source": "Fair"}
    assert_refused_beside_the_field(post_each(client, url, valid, "source"), "source")
    job.refresh_from_db()
    assert job.options == {}


def test_the_command_refuses_a_file_with_a_nul_and_a_source_over_two_lines(tmp_path, general):
    path = tmp_path / "people.csv"
    path.write_bytes(b"Email\x00,Consent date\nann@mail.example,2024-05-01\n")
    with pytest.raises(CommandError, match="Line 1 holds a NUL byte"):
        call_command("import_subscribers", str(path), stdout=io.StringIO())

    path.write_bytes(b"Email,Consent date,Consent wording\nann@mail.example,2024-05-01,Yes\n")
    with pytest.raises(CommandError, match="consent source for the whole file must be on one line"):
        call_command("import_subscribers", str(path), "--source", "Fair\nBcc: x", stdout=io.StringIO())
    assert not Subscriber.objects.exists()
