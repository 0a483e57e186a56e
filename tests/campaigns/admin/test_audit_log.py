"""Staff actions on sends and campaigns are in Wagtail's audit log, under their own action types, with who did them."""

import pytest
from django.urls import reverse
from wagtail.models import ModelLogEntry, PageLogEntry

from campaigns.models import Send, SendState
from campaigns.sending.services import send_pause
from subscribers.models import User
from tests.campaigns.admin.test_admin_send import post_send_now, seen_send_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(client):
    user = User.objects.create_superuser(email="sender@example.com", password="unused-in-this-test")
    client.force_login(user)
    return user


def _actions(send: Send) -> list[tuple[str, int]]:
    entries = ModelLogEntry.objects.filter(object_id=str(send.pk)).order_by("timestamp", "pk")
    return [(entry.action, entry.user_id) for entry in entries if entry.content_type.model == "send"]


def test_send_pause_resume_and_cancel_are_logged_with_the_user_who_did_them(client, sender, campaign, audience):
    # When a person sends the campaign, then pauses, resumes and cancels the send
    post_send_now(client, campaign, seen=seen_send_id(client, campaign))
    send = Send.objects.get(page=campaign)
    for action in ("pause", "resume", "cancel"):
        assert client.post(reverse(f"campaigns_admin:send_{action}", args=[send.pk])).status_code == 302
    assert Send.objects.get(pk=send.pk).state == SendState.CANCELLED

    # Then each is in the audit log, in order, under its own action type and with that person
    assert _actions(send) == [
        ("campaigns.send_now", sender.pk),
        ("campaigns.send_pause", sender.pk),
        ("campaigns.send_resume", sender.pk),
        ("campaigns.send_cancel", sender.pk),
    ]
    assert ModelLogEntry.objects.get(action="campaigns.send_now").data == {"recipients": len(audience)}

    # And the site history report lists them, filtered by action and by user
    report = reverse("wagtailadmin_reports:site_history")
    paused = client.get(report, {"action": "campaigns.send_pause", "user": sender.pk}).content.decode()
    assert "Paused the send" in paused and "Cancelled the send" not in paused
    everything = client.get(report, {"user": sender.pk}).content.decode()
    for sentence in ("Started sending the campaign", "Resumed the send", "Cancelled the send"):
        assert sentence in everything


def test_the_platform_pausing_a_send_names_no_one_and_writes_no_audit_entry(client, sender, campaign, audience):
    post_send_now(client, campaign, seen=seen_send_id(client, campaign))
    send = Send.objects.get(page=campaign)

    send_pause(send=send, reason="The bounce rate is over its limit")

    assert Send.objects.get(pk=send.pk).state == SendState.PAUSED
    assert _actions(send) == [("campaigns.send_now", sender.pk)]


def test_a_test_send_is_logged_on_the_campaign_page(client, sender, campaign):
    response = client.post(
        reverse("campaigns_admin:test_send", args=[campaign.pk]), {"addresses": "a@example.com, b@example.com"}
    )

    assert response.status_code == 302
    entry = PageLogEntry.objects.get(action="campaigns.test_send")
    assert (entry.page_id, entry.user_id, entry.data) == (campaign.pk, sender.pk, {"addresses": 2})
