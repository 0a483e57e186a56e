"""The demo's staff-only outbox shows every email the local SES endpoint received, with working links."""

import pytest

from subscribers.models import ConsentSource, Topic
from subscribers.services import subscriber_get_or_create, subscription_request
from subscribers.wording import PUBLIC_SIGNUP
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_outbox_shows_the_confirmation_email_rendered_with_its_link(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        subscription_request(
            subscriber=subscriber_get_or_create(email="reader@mail.example", first_name="Alan"),
            topics=[Topic.objects.get(is_default=True)],
            source=ConsentSource.PUBLIC_FORM,
            wording=PUBLIC_SIGNUP,
        )
    client.force_login(UserFactory(is_staff=True))

    html = client.get("/outbox/").content.decode()

    assert "To reader@mail.example" in html
    assert "Please confirm your subscription" in html
    assert "srcdoc=" in html and "/newsletter/confirm/" in html
    assert 'class="messages"' not in html, "emails must not be shown as flash messages"


def test_outbox_is_for_staff_only(client):
    assert client.get("/outbox/").status_code == 302
    client.force_login(UserFactory())
    assert client.get("/outbox/").status_code == 302
