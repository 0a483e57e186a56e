"""The demo's staff-only outbox: what the local SES endpoint received, newest first, 50 a page, searchable by
recipient, each email opened on a page of its own with working links."""

import re
import socket

import pytest

from mailer.ses import ses_send_raw
from newsletter.local_ses import local_outbox_entries
from subscribers.mail import message_build
from subscribers.models import ConsentSource, Topic
from subscribers.services import subscriber_get_or_create, subscription_request
from subscribers.wording import PUBLIC_SIGNUP
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROW = re.compile(r"<tr data-outbox-row>.*?</tr>", re.DOTALL)


def mail(count: int, *, to=lambda n: f"reader{n}@mail.example") -> None:
    """``count`` emails through the real mail path to the local SES endpoint, numbered in their subjects."""
    for n in range(count):
        raw = message_build(to=to(n), subject=f"Note {n}", text=f"Body text {n}.", html=f"<p>Body html {n}.</p>")
        ses_send_raw(raw_message=raw, to=to(n))


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_staff=True))
    return client


def rows(html: str) -> list[str]:
    return ROW.findall(html)


def subjects(html: str) -> list[str]:
    return [re.search(r'<td class="outbox-subject"><a [^>]*>(.*?)</a>', row).group(1) for row in rows(html)]


def test_the_confirmation_email_opens_from_the_list_rendered_with_its_link(staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        subscription_request(
            subscriber=subscriber_get_or_create(email="reader@mail.example", first_name="Alan"),
            topics=[Topic.objects.get(is_default=True)],
            source=ConsentSource.PUBLIC_FORM,
            wording=PUBLIC_SIGNUP,
        )

    listing = staff.get("/outbox/").content.decode()
    link = re.search(r'<td class="outbox-subject"><a href="([^"]+)">', listing).group(1)
    message = staff.get(link).content.decode()

    assert "reader@mail.example" in rows(listing)[0]
    assert subjects(listing) == ["Please confirm your subscription to Larkspur &amp; Lune"]
    assert "srcdoc=" not in listing, "the list shows no message bodies"
    assert "Please confirm your subscription" in message
    assert "srcdoc=" in message and "/newsletter/confirm/" in message
    assert 'class="messages"' not in message, "emails must not be shown as flash messages"


def test_the_list_is_newest_first_fifty_a_page_without_any_bodies(staff):
    mail(53)

    first = staff.get("/outbox/").content.decode()
    second = staff.get("/outbox/?page=2").content.decode()

    assert subjects(first) == [f"Note {n}" for n in range(52, 2, -1)]
    assert subjects(second) == ["Note 2", "Note 1", "Note 0"]
    assert "53 emails; 1 to 50 shown." in " ".join(first.split())
    assert "Page 1 of 2" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert "Page 2 of 2" in second and 'rel="prev"' in second
    assert "Body html" not in first and "Body text" not in first
    # A page number that is not one shows the first page rather than an error; one past the end, the last page
    assert subjects(staff.get("/outbox/?page=x").content.decode())[0] == "Note 52"
    assert subjects(staff.get("/outbox/?page=9").content.decode()) == ["Note 2", "Note 1", "Note 0"]


def test_the_search_keeps_the_emails_to_matching_recipients_across_pages(staff):
    mail(6, to=lambda n: "Ada.Lovelace@mail.example" if n % 2 else f"other{n}@mail.example")

    found = staff.get("/outbox/", {"to": "ada.LOVELACE"}).content.decode()
    none = staff.get("/outbox/", {"to": "nobody@"}).content.decode()

    assert subjects(found) == ["Note 5", "Note 3", "Note 1"]
    assert 'value="ada.LOVELACE"' in found
    assert "3 emails to an address containing “ada.LOVELACE”." in " ".join(found.split())
    assert "?to=ada.LOVELACE" in rows(found)[0], "opening an email keeps the search to come back to"
    assert rows(none) == [] and "No email to an address containing “nobody@”." in none


def test_an_email_page_shows_its_parts_and_headers_and_an_unknown_one_is_not_found(staff, ses_endpoint):
    mail(2)
    newest = local_outbox_entries(endpoint_url=ses_endpoint)[-1]

    page = staff.get(f"/outbox/{newest.message_id}/?to=reader&page=1").content.decode()

    assert "<h1>Note 1</h1>" in page
    assert "Body html 1." in page and "Body text 1." in page and "Message-ID:" in page
    assert 'href="/outbox/?to=reader&amp;page=1"' in page, "back to the same page of the same search"
    assert staff.get("/outbox/no-such-message/").status_code == 404


def test_an_unreachable_endpoint_is_named_instead_of_a_server_error(staff, settings):
    # A port held, but not listened on, for the whole test: connections to it are refused, and no server of the
    # suite's other process can take it meanwhile.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        settings.SES_ENDPOINT_URL = f"http://127.0.0.1:{port}"

        listing = staff.get("/outbox/")
        message = staff.get("/outbox/some-id/")

    assert listing.status_code == 200
    assert f"The local SES endpoint at http://127.0.0.1:{port} did not answer" in listing.content.decode()
    assert message.status_code == 502 and "did not answer" in message.content.decode()


def test_the_outbox_and_its_emails_are_for_staff_only(client):
    assert client.get("/outbox/").status_code == 302
    assert client.get("/outbox/some-id/").status_code == 302
    client.force_login(UserFactory())
    assert client.get("/outbox/").status_code == 302
    assert client.get("/outbox/some-id/").status_code == 302
