"""Signatures as the Standard Webhooks specification says, checked by a real receiver with the ``standardwebhooks``
package; forged and altered requests fail; during a rotation both secrets verify."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from subscribers.services import subscriber_get_or_create
from webhooks.delivery import webhook_deliveries_run
from webhooks.services import webhook_endpoint_secret_rotate
from webhooks.signing import webhook_body, webhook_headers, webhook_secret_new

pytestmark = pytest.mark.django_db


def test_a_new_secret_is_in_the_specs_whsec_base64_form_with_32_random_bytes():
    secret = webhook_secret_new()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert webhook_secret_new() != secret


def test_every_request_verifies_with_the_standardwebhooks_package_and_carries_the_event(receiver, endpoint_for):
    endpoint_for(events=["subscriber.created"])

    person = subscriber_get_or_create(email="ada@mail.example", first_name="Ada")
    webhook_deliveries_run()

    [request] = receiver.requests
    assert request.verified_with == [0], request.error
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    body = request.json
    assert body["type"] == "subscriber.created"
    assert body["data"] == {"subscriber": str(person.public_id)}
    assert datetime.fromisoformat(body["timestamp"]) <= datetime.now(UTC)


def _signed(secret: str, body: bytes = b'{"type":"subscriber.created","data":{}}') -> tuple[bytes, dict]:
    headers = webhook_headers(message_id="msg_test", timestamp=datetime.now(UTC), body=body, secrets=[secret])
    return body, headers


FORGERIES = {
    "a changed body": lambda body, headers: (body.replace(b"created", b"erased"), headers),
    "a byte added to the body": lambda body, headers: (body + b" ", headers),
    "another message id": lambda body, headers: (body, {**headers, "webhook-id": "msg_other"}),
    "another timestamp": lambda body, headers: (
        body,
        {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
    ),
    "a signature made with another secret": lambda body, headers: (body, _signed(webhook_secret_new(), body)[1]),
    "no signature": lambda body, headers: (body, {k: v for k, v in headers.items() if k != "webhook-signature"}),
    "a timestamp an hour old": lambda body, headers: (
        body,
        webhook_headers(
            message_id=headers["webhook-id"],
            timestamp=datetime.now(UTC) - timedelta(hours=1),
            body=body,
            secrets=[SECRET],
        ),
    ),
}
SECRET = webhook_secret_new()


def test_the_genuine_request_verifies():
    body, headers = _signed(SECRET)

    assert Webhook(SECRET).verify(body, headers) == json.loads(body)


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_or_altered_request_fails_verification(forgery):
    body, headers = FORGERIES[forgery](*_signed(SECRET))

    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers)


def test_during_a_rotation_both_secrets_sign_so_a_receiver_holding_either_verifies(receiver, endpoint_for):
    # Given an endpoint whose secret the receiver holds, then a rotation: the receiver learns the new one too
    endpoint = endpoint_for(events=["subscriber.created"])
    endpoint, new_secret = webhook_endpoint_secret_rotate(user=None, endpoint=endpoint, previous_valid_hours=24)
    receiver.secrets.append(new_secret)

    subscriber_get_or_create(email="grace@mail.example")
    webhook_deliveries_run()

    [request] = receiver.requests
    assert request.verified_with == [0, 1]  # the old secret and the new one each verify alone
    assert len(request.headers["webhook-signature"].split(" ")) == 2


def test_once_the_overlap_is_over_only_the_new_secret_signs(receiver, endpoint_for):
    endpoint = endpoint_for(events=["subscriber.created"])
    endpoint, new_secret = webhook_endpoint_secret_rotate(user=None, endpoint=endpoint, previous_valid_hours=0)
    receiver.secrets.append(new_secret)

    subscriber_get_or_create(email="grace@mail.example")
    webhook_deliveries_run()

    [request] = receiver.requests
    assert request.verified_with == [1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1


def test_the_body_is_compact_json_with_type_timestamp_and_data():
    body = webhook_body(type="send.started", occurred_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC), data={"send": 7})

    assert body == b'{"type":"send.started","timestamp":"2026-12-01T09:30:00Z","data":{"send":7}}'
