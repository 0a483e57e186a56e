"""Managing outgoing webhooks through the API (``webhooks:manage``): endpoints with their secret shown once, a rotation,
an endpoint's deliveries and their attempts, "send again", through the same services and checks as the admin. A real
receiver on 127.0.0.1 verifies what it is sent with the ``standardwebhooks`` package."""

import pytest
from standardwebhooks import Webhook
from wagtail.models import ModelLogEntry

from api.models import IdempotencyRecord
from subscribers.services import subscriber_get_or_create
from webhooks.delivery import webhook_deliveries_run
from webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_endpoint_create

from ..webhooks.receiver import Receiver
from .conftest import client_for, error_of

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhooks/endpoints/"


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def manager(api_client):
    return api_client("webhooks:manage", name="CRM connector")


def _create(client, receiver, **extra) -> dict:
    response = client.post(
        ENDPOINTS, {"name": "CRM", "url": receiver.url, "events": ["subscriber.created"], **extra}
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(
    ("path", "method"),
    [
        (ENDPOINTS, "get"),
        (ENDPOINTS, "post"),
        (f"{ENDPOINTS}1/", "get"),
        (f"{ENDPOINTS}1/", "patch"),
        (f"{ENDPOINTS}1/", "delete"),
        (f"{ENDPOINTS}1/rotate-secret/", "post"),
        (f"{ENDPOINTS}1/deliveries/", "get"),
        ("/api/v1/webhooks/deliveries/1/", "get"),
        ("/api/v1/webhooks/deliveries/1/resend/", "post"),
    ],
)
def test_every_webhook_route_needs_a_key_with_the_webhooks_manage_scope(api_client, path, method):
    assert getattr(client_for(None), method)(path).status_code == 401
    response = getattr(api_client("subscribers:read", "subscribers:write"), method)(path)
    assert response.status_code == 403
    assert "webhooks:manage" in error_of(response)["message"]


def test_an_endpoint_made_through_the_api_shows_its_secret_once_and_the_log_names_the_key(manager, receiver):
    made = _create(manager, receiver)

    assert made["secret"].startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(pk=made["id"])
    assert endpoint.secret == made["secret"]
    shown = manager.get(f"{ENDPOINTS}{made['id']}/").json()
    assert "secret" not in shown and shown["events"] == ["subscriber.created"] and shown["enabled"] is True
    listed = manager.get(ENDPOINTS).json()
    assert [row["id"] for row in listed["results"]] == [made["id"]]
    assert all("secret" not in row for row in listed["results"])
    entry = ModelLogEntry.objects.get(action="webhooks.endpoint_create")
    assert entry.user == manager.api_key.user
    assert entry.user.get_full_name() == "API key CRM connector"  # how Site history names who acted


def test_events_then_go_to_the_endpoint_signed_with_the_secret_the_api_gave(manager, api_client, receiver):
    # Given an endpoint made through the API, and the secret it answered with
    made = _create(manager, receiver)

    # When the shop adds a subscriber through the API and the deliveries run
    writer = api_client("subscribers:write")
    created = writer.post("/api/v1/subscribers/", {"email": "ada@mail.example", "topics": ["general"]})
    assert created.status_code == 202, created.content
    webhook_deliveries_run()

    # Then the receiver got subscriber.created, and it verifies with that secret
    [received] = receiver.requests
    payload = Webhook(made["secret"]).verify(received.body, received.headers)
    assert payload["type"] == "subscriber.created"
    assert payload["data"] == {"subscriber": created.json()["public_id"]}


def test_bad_input_is_refused_naming_the_field_and_changes_nothing(manager, receiver):
    cases = [
        ({"name": "X", "url": "ftp://hooks.example/in", "events": ["subscriber.created"]}, "url"),
        ({"name": "X", "url": receiver.url, "events": ["subscriber.deleted"]}, "events.0"),
        ({"name": "X", "url": receiver.url, "events": []}, "events"),
        ({"url": receiver.url, "events": ["subscriber.created"]}, "name"),
        ({"name": "X", "url": receiver.url, "events": ["send.started"], "partner": "Nobody & Co"}, "partner"),
    ]
    for body, field in cases:
        response = manager.post(ENDPOINTS, body)
        assert response.status_code == 400, (body, response.content)
        assert field in error_of(response)["fields"], (body, response.json())
    assert not WebhookEndpoint.objects.exists()


def test_a_patch_changes_only_what_it_names(api_client, receiver):
    manager = api_client("webhooks:manage", "subscribers:read")
    made = _create(manager, receiver, include_personal_data=True)

    response = manager.patch(f"{ENDPOINTS}{made['id']}/", {"enabled": False})

    assert response.status_code == 200, response.content
    endpoint = WebhookEndpoint.objects.get(pk=made["id"])
    assert (endpoint.enabled, endpoint.include_personal_data, endpoint.name) == (False, True, "CRM")
    assert endpoint.disabled_reason == "Disabled by staff."


def test_a_key_that_may_not_read_subscribers_cannot_make_an_endpoint_that_receives_their_addresses(
    manager, api_client, receiver
):
    refused = manager.post(
        ENDPOINTS,
        {"name": "CRM", "url": receiver.url, "events": ["subscriber.created"], "include_personal_data": True},
    )
    assert refused.status_code == 403, refused.content
    assert "subscribers.view_subscriber" in error_of(refused)["message"]
    assert not WebhookEndpoint.objects.exists()

    made = _create(manager, receiver)
    refused = manager.patch(f"{ENDPOINTS}{made['id']}/", {"include_personal_data": True})
    assert refused.status_code == 403, refused.content
    assert not WebhookEndpoint.objects.get(pk=made["id"]).include_personal_data

    # With subscribers:read as well, the key may: it could read the addresses anyway
    reader = api_client("webhooks:manage", "subscribers:read")
    assert reader.patch(f"{ENDPOINTS}{made['id']}/", {"include_personal_data": True}).status_code == 200
    subscriber_get_or_create(email="ada@mail.example", first_name="Ada")
    webhook_deliveries_run()
    assert receiver.requests[0].json["data"]["email"] == "ada@mail.example"


def test_a_rotation_answers_the_new_secret_and_both_sign_meanwhile(manager, receiver, api_client):
    made = _create(manager, receiver)

    rotated = manager.post(f"{ENDPOINTS}{made['id']}/rotate-secret/", {"previous_valid_hours": 2}).json()

    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    assert rotated["previous_secret_expires_at"]
    api_client("subscribers:write").post("/api/v1/subscribers/", {"email": "bo@mail.example"})
    webhook_deliveries_run()
    [received] = receiver.requests
    for secret in (made["secret"], rotated["secret"]):
        assert Webhook(secret).verify(received.body, received.headers)["type"] == "subscriber.created"


def test_a_secret_is_never_kept_for_an_idempotency_key_replay(manager, receiver):
    body = {"name": "CRM", "url": receiver.url, "events": ["subscriber.created"]}
    first = manager.post(ENDPOINTS, body, headers={"Idempotency-Key": "create-1"})
    rotated = manager.post(f"{ENDPOINTS}{first.json()['id']}/rotate-secret/", {}, headers={"Idempotency-Key": "rot-1"})

    again = manager.post(ENDPOINTS, body, headers={"Idempotency-Key": "create-1"})
    rotated_again = manager.post(
        f"{ENDPOINTS}{first.json()['id']}/rotate-secret/", {}, headers={"Idempotency-Key": "rot-1"}
    )

    assert first.status_code == 201 and first.json()["secret"].startswith("whsec_")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and "shown once" in again.json()["secret"].lower()
    assert rotated_again.headers["Idempotent-Replayed"] == "true" and "whsec_" not in rotated_again.json()["secret"]
    assert WebhookEndpoint.objects.count() == 1
    assert WebhookEndpoint.objects.get().secret == rotated.json()["secret"]  # rotated once, not twice
    kept = b"".join(bytes(record.body) for record in IdempotencyRecord.objects.all())
    assert b"whsec_" not in kept


def test_deliveries_and_their_attempts_are_listed_and_a_failed_one_can_be_sent_again(manager, receiver, settings):
    # Given an endpoint whose receiver fails, and a delivery that has given up after its one allowed attempt
    settings.WEBHOOK_RETRY_SCHEDULE = []
    endpoint, _ = webhook_endpoint_create(user=None, name="CRM", url=receiver.url, events=["subscriber.created"])
    receiver.plan = lambda n: (500, 0.0)
    subscriber_get_or_create(email="cy@mail.example")
    webhook_deliveries_run()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == DeliveryState.FAILED

    # When the connector lists the endpoint's failed deliveries and reads the one there
    listed = manager.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/", {"state": "failed"}).json()
    assert [row["id"] for row in listed["results"]] == [delivery.pk]
    detail = manager.get(f"/api/v1/webhooks/deliveries/{delivery.pk}/").json()
    assert [a["status_code"] for a in detail["attempts_made"]] == [500]
    assert detail["event_type"] == "subscriber.created"

    # Then it can send it again, and once the receiver answers, it succeeds with the same webhook-id
    receiver.plan = lambda n: (200, 0.0)
    response = manager.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/resend/")
    assert response.status_code == 202, response.content
    webhook_deliveries_run()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert receiver.requests[-1].headers["webhook-id"] == delivery.event.message_id

    # And sending a pending one again is a conflict, an unknown state a named bad input
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.PENDING)
    conflict = manager.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/resend/")
    assert conflict.status_code == 409 and error_of(conflict)["code"] == "delivery_state"
    bad = manager.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/", {"state": "lost"})
    assert bad.status_code == 400 and "state" in error_of(bad)["fields"]


def test_deleting_an_endpoint_through_the_api_removes_it(manager, receiver):
    made = _create(manager, receiver)

    assert manager.delete(f"{ENDPOINTS}{made['id']}/").status_code == 204

    assert not WebhookEndpoint.objects.exists()
    assert manager.get(f"{ENDPOINTS}{made['id']}/").status_code == 404
