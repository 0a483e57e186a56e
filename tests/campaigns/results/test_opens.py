"""Open tracking: off by default; when a campaign turns it on, one image per send, counted, never per person."""

import re

import pytest
from django.urls import reverse

from campaigns.models import Send
from campaigns.results.tally import tally_flush
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

PIXEL_SRC = re.compile(r'<img src="([^"]*/o/[^"]+\.gif)"')


def _html_parts(outbox) -> list[str]:
    return [m.html for m in outbox.all()]


def _send(campaign, outbox, settings, *, track_opens: bool) -> Send:
    settings.SES_MAX_SEND_RATE = 1000
    campaign.track_opens = track_opens
    campaign.save_revision().publish()
    for _ in range(3):
        SubscriptionFactory()
    send = send_start(send=send_create(page=campaign))
    send_work(send_id=send.pk)
    return send


def test_open_tracking_is_off_by_default_and_adds_no_image(campaign, outbox, settings):
    assert campaign.track_opens is False
    _send(campaign, outbox, settings, track_opens=False)

    assert not any(PIXEL_SRC.search(html) for html in _html_parts(outbox))


def test_when_on_every_copy_carries_the_same_image_and_each_load_counts_for_the_send(
    campaign, outbox, settings, client
):
    send = _send(campaign, outbox, settings, track_opens=True)

    sources = {PIXEL_SRC.search(html).group(1) for html in _html_parts(outbox)}
    assert len(sources) == 1, "the same image for everyone: nothing in it names a person"
    path = "/" + sources.pop().split("/", 3)[3]
    for _ in range(2):
        response = client.get(path)
        assert response.status_code == 200 and response["Content-Type"] == "image/gif"
        assert "no-store" in response["Cache-Control"]
    tally_flush()
    send.refresh_from_db()
    assert send.opens == 2


def test_a_tampered_image_token_counts_nothing(campaign, outbox, settings, client):
    send = _send(campaign, outbox, settings, track_opens=True)
    token = f"{send.pk}.forged"

    assert client.get(reverse("campaigns:open", args=[token])).status_code == 404
    tally_flush()
    send.refresh_from_db()
    assert send.opens == 0


def test_the_editor_and_the_report_say_why_opens_run_high(campaign, outbox, settings, admin_client):
    send = _send(campaign, outbox, settings, track_opens=True)

    editor = admin_client.get(reverse("wagtailadmin_pages:edit", args=[campaign.pk])).content.decode()
    report = admin_client.get(reverse("campaigns_admin:send_report", args=[send.pk])).content.decode()

    assert "Apple Mail Privacy Protection" in editor
    assert "Apple Mail Privacy Protection" in report and 'data-report="opens"' in report
