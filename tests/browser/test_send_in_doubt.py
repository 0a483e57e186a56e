"""Settling rows in doubt in Chromium: the progress page explains them, asks for the tick, sends again the ones SES
never confirmed through a real Celery worker, and records it in the send's history.

The rows become ``unknown`` the honest way: the worker sends through an endpoint in front of moto's SES server
that loses the answers to three calls after SES accepted them.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F
from playwright.sync_api import expect

from campaigns.authoring.demo_content import campaign_index, demo_campaign
from campaigns.models import Delivery, DeliveryState, Send, SendAction, SendEvent, SendState
from campaigns.sending.services import send_create, send_start
from mailer import ses
from tests.browser.conftest import DESKTOP, SCREENSHOTS
from tests.campaigns.sending.test_in_doubt import LostAnswers
from tests.faulty_ses import FaultySes

pytestmark = [
    pytest.mark.browser,
    # The live server and the worker see only committed rows; serialized_rollback brings back the rows that
    # migrations create (the default site, General Subscription) after the previous test's flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

AUDIENCE = 6
NARROW = {"width": 375, "height": 812}


def sent_to_the_end(send: Send, *, seconds: float = 60) -> Send:
    deadline = time.monotonic() + seconds
    while (send := Send.objects.get(pk=send.pk)).state != SendState.SENT:
        assert time.monotonic() < deadline, Counter(send.deliveries.values_list("state", flat=True))
        time.sleep(0.2)
    return send


# The admin scrolls inside its own element, not the document, so a "full page" screenshot would stop at the
# viewport: the viewport is made as tall as what that element holds instead.
CONTENT_HEIGHT = "Math.max(...[...document.querySelectorAll('body, main, main *')].map(e => e.scrollHeight))"


def screenshots(page, name: str) -> None:
    """The whole page at a phone's 375 px and at desktop width, reloaded at each so the admin lays itself out."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, viewport in (("phone", NARROW), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.reload()
        height = max(viewport["height"], page.evaluate(CONTENT_HEIGHT))
        page.set_viewport_size({"width": viewport["width"], "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def test_staff_send_again_the_recipients_ses_never_confirmed_and_the_history_says_who(
    admin_page, site_url, settings, tmp_path, ses_endpoint, celery_worker, outbox
):
    # Given a campaign sent by the worker to six subscribers, while SES's answers to three calls were lost
    settings.MEDIA_ROOT = tmp_path
    settings.SES_MAX_SEND_RATE = 1000
    campaign_index()
    campaign = demo_campaign()
    call_command("seed_audience", count=AUDIENCE)
    plan = LostAnswers(drop_calls={2, 4, 5})
    with FaultySes(ses_endpoint, plan) as faulty:
        settings.SES_ENDPOINT_URL = faulty
        ses._cached_client.cache_clear()
        send = sent_to_the_end(send_start(send=send_create(page=campaign)))
    settings.SES_ENDPOINT_URL = ses_endpoint
    ses._cached_client.cache_clear()
    in_doubt = list(send.deliveries.filter(state=DeliveryState.UNKNOWN).order_by("pk"))
    assert len(in_doubt) == 3 and len(outbox.all()) == AUDIENCE
    # And an hour passes for two of them (no clock is faked: their SES calls are moved an hour into the past)
    old = [row.pk for row in in_doubt[:2]]
    hour = timedelta(minutes=61)
    Delivery.objects.filter(pk__in=old).update(
        attempted_at=F("attempted_at") - hour, finished_at=F("finished_at") - hour
    )

    # When staff open the send's progress page
    page = admin_page
    page.goto(f"/admin/campaigns/sends/{send.pk}/")

    # Then it explains the rows in doubt and offers to send the two old ones again, once the risk is accepted
    section = page.locator("[data-in-doubt]")
    expect(section.get_by_role("heading", name="In doubt (3)")).to_be_visible()
    expect(section).to_contain_text("we do not know whether SES accepted the message")
    expect(section.locator("[data-unconfirmed-waiting]")).to_contain_text("can be sent again from")
    tick = section.get_by_role("checkbox", name="I understand that some of these 2 people may already have received")
    button = section.get_by_role("button", name="Send again to the 2 recipients SES never confirmed")
    expect(tick).not_to_be_checked()
    expect(button).to_be_visible()
    screenshots(page, "44-send-in-doubt")

    # When they press the button without the tick, the browser asks for it and nothing is sent
    button.click()
    assert tick.evaluate("box => box.validity.valueMissing")
    assert Counter(send.deliveries.values_list("state", flat=True)) == {"sent": 3, "unknown": 3}

    # When they tick it and press the button
    tick.check()
    button.click()

    # Then the page confirms it and the history names who did what
    expect(page.get_by_text("2 recipients queued to be sent again.")).to_be_visible()
    history = page.locator("[data-history]")
    expect(history.locator("[data-history-action=unconfirmed_resent]")).to_contain_text("Edith")
    expect(history).to_contain_text("Sent again to recipients SES never confirmed (2 recipients)")
    event = SendEvent.objects.get(send=send)
    assert (event.action, event.rows, event.user.email) == (
        SendAction.UNCONFIRMED_RESENT,
        2,
        "editor@larkspur-lune.example",
    )

    # And the worker sends those two through SES, once more each, and the send ends sent again
    send = sent_to_the_end(send)
    received = Counter(address for message in outbox.all() for address in message.to)
    assert sum(received.values()) == AUDIENCE + 2
    twice = {row.subscriber.email for row in Delivery.objects.filter(pk__in=old).select_related("subscriber")}
    assert {address for address, count in received.items() if count == 2} == twice
    assert Counter(send.deliveries.values_list("state", flat=True)) == {"sent": 5, "unknown": 1}

    # And the page, reloaded, offers nothing more: one row is still too recent, and the history stays
    page.reload()
    expect(page.get_by_role("heading", name="In doubt (1)")).to_be_visible()
    expect(page.locator("[data-unconfirmed-resend]")).to_have_count(0)
    expect(page.locator("[data-history] li")).to_have_count(1)
    screenshots(page, "45-send-in-doubt-after")
