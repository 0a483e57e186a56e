"""Sending through the API (``campaigns:send``): send now, schedule, pause, resume and cancel, through the same
services, checks and states as the admin, each in the audit log with the key's user as the actor. The worker sends
through the suite's SES endpoint."""

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry

from campaigns.authoring.demo_content import demo_campaign
from campaigns.models import CampaignPage, Delivery, Send, SendState
from campaigns.sending.services import send_create, sends_sweep
from campaigns.sending.worker import send_work
from subscribers.models import Topic, User
from tests.factories import SubscriptionFactory

from .conftest import client_for, error_of

pytestmark = pytest.mark.django_db

FUTURE = "2099-01-15T09:00:00+01:00"


@pytest.fixture(autouse=True)
def _fast_rate(settings):
    settings.SES_MAX_SEND_RATE = 1000


@pytest.fixture
def campaign(settings, tmp_path):
    """The demo campaign (published, to General Subscription)."""
    settings.MEDIA_ROOT = tmp_path
    return CampaignPage.objects.get(pk=demo_campaign().pk)  # as published, read back


@pytest.fixture
def audience(campaign):
    """Four who may be mailed, and one whose subscription is still pending."""
    general = Topic.objects.get(is_default=True)
    SubscriptionFactory(topic=general, status="pending")
    return [SubscriptionFactory(topic=general) for _ in range(4)]


@pytest.fixture
def sender(api_client):
    return api_client("campaigns:send", "campaigns:read", name="Shop scheduler")


def post(client, path: str, body: dict | None = None, **headers):
    return client.post(path, body or {}, format="json", headers=headers or None)


def send_paths(campaign: CampaignPage, send_id: int) -> list[str]:
    return [
        f"/api/v1/campaigns/{campaign.pk}/send/",
        f"/api/v1/campaigns/{campaign.pk}/schedule/",
        f"/api/v1/sends/{send_id}/pause/",
        f"/api/v1/sends/{send_id}/resume/",
        f"/api/v1/sends/{send_id}/cancel/",
    ]


def log_entries(send: Send) -> list[ModelLogEntry]:
    entries = ModelLogEntry.objects.filter(object_id=str(send.pk)).select_related("user").order_by("timestamp", "pk")
    return [entry for entry in entries if entry.content_type.model == "send"]


# Scopes -----------------------------------------------------------------------------------------------------------


def test_every_send_endpoint_refuses_a_request_without_a_key_with_401_and_changes_nothing(campaign, audience):
    draft = send_create(page=campaign)

    for path in send_paths(campaign, draft.pk):
        response = post(client_for(None), path, {"when": FUTURE})
        assert response.status_code == 401, path
        assert response["WWW-Authenticate"] == "Bearer"

    assert list(Send.objects.values_list("pk", "state")) == [(draft.pk, SendState.DRAFT)]


def test_every_send_endpoint_refuses_a_key_without_campaigns_send_with_403_and_changes_nothing(
    campaign, audience, api_client
):
    draft = send_create(page=campaign)
    reader = api_client("campaigns:read", "subscribers:write")

    for path in send_paths(campaign, draft.pk):
        response = post(reader, path, {"when": FUTURE})
        assert response.status_code == 403, path
        assert "campaigns:send" in error_of(response)["message"]

    assert list(Send.objects.values_list("pk", "state")) == [(draft.pk, SendState.DRAFT)]
    assert not Delivery.objects.exists()


def test_a_key_whose_user_may_not_send_is_refused_by_the_services_own_check_with_403(campaign, audience, sender):
    # Given a key with the scope whose user has lost the senders group (what ``may_send`` asks for)
    sender.api_key.user.groups.clear()

    response = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/")

    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert "may not send Winter collection" in error_of(response)["message"]
    assert not Send.objects.exists()


def test_unknown_campaigns_and_sends_are_404(campaign, sender):
    for path in [*send_paths(campaign, 999_999)[2:], f"/api/v1/campaigns/{campaign.pk + 1000}/send/"]:
        response = post(sender, path)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"


# Send now ---------------------------------------------------------------------------------------------------------


def test_send_now_through_the_api_produces_the_same_deliveries_as_the_admins_send(
    campaign, audience, sender, client, outbox
):
    # Given the campaign sent once from the admin by a person, and the worker's run of it
    client.force_login(User.objects.create_superuser(email="staff@larkspur-lune.example", password="unused"))
    admin_url = reverse("campaigns_admin:send", args=[campaign.pk])
    seen = client.get(admin_url).context["seen_send_id"]
    assert client.post(admin_url, {"action": "send_now", "seen_send_id": seen}).status_code == 302
    by_admin = Send.objects.get()
    send_work(send_id=by_admin.pk)

    # When it is sent again through the API, and the worker runs
    response = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/", {"seen_send_id": by_admin.pk})
    assert response.status_code == 201, response.content
    by_api = Send.objects.get(pk=response.json()["id"])
    send_work(send_id=by_api.pk)

    # Then both sends have the same ledger: the same recipients, one row each, all accepted by SES
    def ledger(send):
        return sorted(Delivery.objects.filter(send=send).values_list("subscriber_id", "subscription_id", "state"))

    assert ledger(by_api) == ledger(by_admin)
    assert {row[0] for row in ledger(by_api)} == {s.subscriber_id for s in audience}
    assert by_api.revision_id == by_admin.revision_id and by_api.created_by == sender.api_key.user
    # And each of the four received one message from each send, and no one else received any
    received = Counter(address for message in outbox.all() for address in message.to)
    assert received == Counter({s.subscriber.email: 2 for s in audience})
    body = response.json()
    assert body["state"] == "sending" and body["total"] == 4 and body["progress"]["queued"] == 4


def test_a_second_send_now_while_sending_is_refused_with_409_and_starts_nothing(campaign, audience, sender):
    first = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/")
    assert first.status_code == 201

    second = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/")

    assert second.status_code == 409
    error = error_of(second)
    assert error["code"] == "send_state" and error["message"] == "This campaign is already being sent."
    assert Send.objects.count() == 1 and Delivery.objects.count() == 4


def test_send_now_with_a_stale_seen_send_id_is_refused_with_409(campaign, audience, sender):
    # Given a send the caller did not know of (another system's, finished)
    earlier = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/").json()
    send_work(send_id=earlier["id"])

    response = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/", {"seen_send_id": 0})

    assert response.status_code == 409
    assert "after this confirmation was shown" in error_of(response)["message"]
    assert Send.objects.count() == 1


def test_send_now_of_an_unpublished_campaign_is_409_and_leaves_no_draft(campaign, audience, sender):
    campaign.unpublish()

    response = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/")

    assert response.status_code == 409
    assert error_of(response)["message"] == "Publish the campaign before sending it."
    assert not Send.objects.exists()


def test_a_bad_seen_send_id_is_a_400_naming_the_field(campaign, audience, sender):
    response = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/", {"seen_send_id": "yesterday"})

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["seen_send_id"]
    assert not Send.objects.exists()


def test_send_now_repeated_with_the_same_idempotency_key_sends_once_and_answers_the_same(
    campaign, audience, sender
):
    path = f"/api/v1/campaigns/{campaign.pk}/send/"

    first = post(sender, path, **{"Idempotency-Key": "send-winter-1"})
    again = post(sender, path, **{"Idempotency-Key": "send-winter-1"})

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert again.content == first.content
    send = Send.objects.get()
    assert Delivery.objects.filter(send=send).count() == 4
    assert [entry.action for entry in log_entries(send)] == ["campaigns.send_now"]
    # A new key is a new request: refused, since the campaign is being sent
    assert post(sender, path, **{"Idempotency-Key": "send-winter-2"}).status_code == 409


# Schedule ---------------------------------------------------------------------------------------------------------


def test_schedule_then_cancel_leaves_a_cancelled_send_that_the_scheduler_never_starts(campaign, audience, sender):
    # When the campaign is scheduled for a time with its zone
    response = post(sender, f"/api/v1/campaigns/{campaign.pk}/schedule/", {"when": "2099-01-15T09:00:00+01:00"})

    # Then the send is scheduled for that instant
    assert response.status_code == 201, response.content
    body = response.json()
    send = Send.objects.get(pk=body["id"])
    assert send.state == SendState.SCHEDULED and body["state"] == "scheduled"
    assert send.scheduled_for == datetime(2099, 1, 15, 8, 0, tzinfo=UTC)
    assert body["scheduled_for"] == "2099-01-15T08:00:00Z"

    # When it is cancelled
    cancelled = post(sender, f"/api/v1/sends/{send.pk}/cancel/")

    # Then it is cancelled, and when its time comes the scheduler leaves it alone
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    Send.objects.filter(pk=send.pk).update(scheduled_for=timezone.now() - timedelta(minutes=1))
    sends_sweep()
    send.refresh_from_db()
    assert send.state == SendState.CANCELLED and not Delivery.objects.exists()
    assert [entry.action for entry in log_entries(send)] == ["campaigns.send_schedule", "campaigns.send_cancel"]


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("2099-01-15T09:00:00", "Give the time zone too"),
        ("2000-01-15T09:00:00Z", "Choose a time in the future."),
        ("next tuesday", "ISO 8601"),
        ("2099-02-30T09:00:00Z", "ISO 8601"),
        (20990115, "ISO 8601"),
        (None, "may not be null"),
    ],
)
def test_schedule_refuses_a_naive_past_or_malformed_time_with_400_naming_the_field_and_changes_nothing(
    campaign, audience, sender, when, message
):
    response = post(sender, f"/api/v1/campaigns/{campaign.pk}/schedule/", {"when": when})

    assert response.status_code == 400
    error = error_of(response)
    assert list(error["fields"]) == ["when"]
    assert message in error["fields"]["when"][0]
    assert not Send.objects.exists()


def test_schedule_without_a_time_is_a_400_naming_the_field(campaign, audience, sender):
    response = post(sender, f"/api/v1/campaigns/{campaign.pk}/schedule/", {})

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["when"]


def test_a_second_schedule_while_one_is_waiting_is_409_and_the_first_stays(campaign, audience, sender):
    first = post(sender, f"/api/v1/campaigns/{campaign.pk}/schedule/", {"when": FUTURE})

    second = post(sender, f"/api/v1/campaigns/{campaign.pk}/schedule/", {"when": "2099-03-01T09:00:00Z"})
    now = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/")

    assert second.status_code == now.status_code == 409
    assert "already scheduled for" in error_of(second)["message"]
    assert list(Send.objects.values_list("pk", "state")) == [(first.json()["id"], SendState.SCHEDULED)]


def test_schedule_with_a_stale_seen_send_id_is_409_and_leaves_no_draft(campaign, audience, sender):
    earlier = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/").json()
    send_work(send_id=earlier["id"])

    path = f"/api/v1/campaigns/{campaign.pk}/schedule/"
    stale = post(sender, path, {"when": FUTURE, "seen_send_id": 0})
    current = post(sender, path, {"when": FUTURE, "seen_send_id": earlier["id"]})

    assert stale.status_code == 409
    assert "after this confirmation was shown" in error_of(stale)["message"]
    assert current.status_code == 201
    assert sorted(Send.objects.values_list("state", flat=True)) == [SendState.SCHEDULED, SendState.SENT]


# Pause, resume, cancel --------------------------------------------------------------------------------------------


def test_pause_stops_the_workers_and_resume_finishes_the_send(campaign, audience, sender, outbox):
    send_id = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/").json()["id"]

    # When the send is paused, the worker sends nothing
    paused = post(sender, f"/api/v1/sends/{send_id}/pause/")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert paused.json()["pause_reason"] == "Paused through the API by the key “Shop scheduler”"
    assert send_work(send_id=send_id) == 0 and outbox.all() == []

    # When it is resumed, the worker finishes it
    resumed = post(sender, f"/api/v1/sends/{send_id}/resume/")
    assert resumed.status_code == 200 and resumed.json()["state"] == "sending"
    assert send_work(send_id=send_id) == 4
    assert len(outbox.all()) == 4
    assert Send.objects.get(pk=send_id).state == SendState.SENT


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("pause", "Nothing changed: the send is sent; only a send that is sending can be paused."),
        ("resume", "Nothing changed: the send is sent; only a send that is paused can be resumed."),
        ("cancel", "Nothing changed: the send is sent; only a send that is a draft, scheduled, sending or paused"),
    ],
)
def test_an_action_a_finished_send_cannot_take_is_409_and_changes_nothing(
    campaign, audience, sender, action, message
):
    send_id = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/").json()["id"]
    send_work(send_id=send_id)

    response = post(sender, f"/api/v1/sends/{send_id}/{action}/")

    assert response.status_code == 409
    assert error_of(response)["code"] == "send_state"
    assert error_of(response)["message"].startswith(message)
    assert Send.objects.get(pk=send_id).state == SendState.SENT
    assert [e.action for e in log_entries(Send.objects.get(pk=send_id))] == ["campaigns.send_now"]


def test_resuming_a_send_that_is_sending_is_409(campaign, audience, sender):
    send_id = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/").json()["id"]

    response = post(sender, f"/api/v1/sends/{send_id}/resume/")

    assert response.status_code == 409
    assert "the send is sending; only a send that is paused" in error_of(response)["message"]


def test_cancelling_a_paused_send_skips_every_row_not_sent(campaign, audience, sender, outbox):
    send_id = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/").json()["id"]
    post(sender, f"/api/v1/sends/{send_id}/pause/")

    response = post(sender, f"/api/v1/sends/{send_id}/cancel/")

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "cancelled" and body["progress"]["queued"] == 0
    assert body["progress"]["skipped"] is None, "four people: below the minimum group size, so not a number"
    assert Delivery.objects.filter(send_id=send_id, state="skipped").count() == 4
    assert send_work(send_id=send_id) == 0 and outbox.all() == []


# The audit log ----------------------------------------------------------------------------------------------------


def test_each_action_is_in_the_audit_log_with_the_keys_user_as_actor_naming_the_key(campaign, audience, sender):
    # When a send is made, paused, resumed and cancelled through the API
    send_id = post(sender, f"/api/v1/campaigns/{campaign.pk}/send/").json()["id"]
    for action in ("pause", "resume", "cancel"):
        assert post(sender, f"/api/v1/sends/{send_id}/{action}/").status_code == 200, action

    # Then each is in the audit log, in order, with the key's own user as the actor, whose name is the key's
    entries = log_entries(Send.objects.get(pk=send_id))
    assert [(e.action, e.user_id) for e in entries] == [
        ("campaigns.send_now", sender.api_key.user_id),
        ("campaigns.send_pause", sender.api_key.user_id),
        ("campaigns.send_resume", sender.api_key.user_id),
        ("campaigns.send_cancel", sender.api_key.user_id),
    ]
    assert all("Shop scheduler" in e.user_display_name for e in entries)
    assert entries[0].data == {"recipients": 4}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_send_started_through_the_api_is_sent_by_a_real_worker_and_its_progress_reaches_100(
    settings, tmp_path, celery_worker, api_client, outbox
):
    # Given a published campaign and four subscribers, and a Celery worker consuming from Redis
    settings.MEDIA_ROOT = tmp_path
    campaign = demo_campaign()
    general = Topic.objects.get(is_default=True)
    people = [SubscriptionFactory(topic=general) for _ in range(4)]
    client = api_client("campaigns:send", "campaigns:read")

    # When the send is started through the API (workers are woken through Redis after commit)
    send_id = post(client, f"/api/v1/campaigns/{campaign.pk}/send/").json()["id"]

    # Then the API reports it sent, each person received one message, and the worker did the sending
    deadline = time.monotonic() + 60
    while (body := client.get(f"/api/v1/sends/{send_id}/").json())["state"] != "sent":
        assert time.monotonic() < deadline, body
        time.sleep(0.3)
    assert body["progress"]["percent"] == 100.0 and body["progress"]["sent"] == 4
    assert body["results"]["counts"]["sent"] == {"count": None, "shown": "<5"}
    received = Counter(address for message in outbox.all() for address in message.to)
    assert received == Counter({p.subscriber.email: 1 for p in people})
    assert ("campaigns.tasks.send_work_task", False) in celery_worker.tasks_run
