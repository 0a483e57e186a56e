"""/hooks/ses/ end to end: signed SNS messages in, stored events and their effects out; forgeries change nothing.

The certificate is made in the test and served by a stand-in for the network (``SNS_HTTP_FETCH``); the SES
payloads are the samples from the AWS documentation (tests/campaigns/sns_samples/, sources in sns_signing.py).
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse

from campaigns.feedback import sns
from campaigns.models import FeedbackEvent
from subscribers.addresses import address_hmac
from subscribers.models import ConsentEvent, Suppression, SuppressionReason, SuppressionScope
from tests.campaigns.sns_signing import (
    CERT_URL,
    SUBSCRIBE_URL,
    TOPIC_ARN,
    FakeNetwork,
    certificate_pem,
    sample,
    signed_envelope,
)

pytestmark = pytest.mark.django_db

HOOK = "/hooks/ses/"
NETWORK = FakeNetwork()  # named by SNS_HTTP_FETCH below: the hook's only way out


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def network(key, settings):
    settings.SES_SNS_TOPIC_ARNS = [TOPIC_ARN]
    settings.SNS_HTTP_FETCH = f"{__name__}.NETWORK"
    now = datetime.now(UTC)
    NETWORK.documents = {
        CERT_URL: certificate_pem(key, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    }
    NETWORK.requests.clear()
    NETWORK.failures_to_come = 0
    sns._store_for.cache_clear()  # each test starts with nothing cached
    yield NETWORK
    sns._store_for.cache_clear()


def envelope(key, ses_event: str, **changes) -> dict:
    return signed_envelope(key, message=ses_event, timestamp=datetime.now(UTC), message_id=str(uuid.uuid4()), **changes)


def post(client, message: dict | bytes, *, kind: str | None = None):
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    headers = {}
    if kind or isinstance(message, dict):
        headers["HTTP_X_AMZ_SNS_MESSAGE_TYPE"] = kind or message.get("Type", "")
    return client.post(HOOK, data=body, content_type="text/plain; charset=UTF-8", **headers)


def nothing_written() -> bool:
    return not FeedbackEvent.objects.exists() and not Suppression.objects.exists() and not ConsentEvent.objects.exists()


def test_the_hook_is_at_the_public_address():
    assert reverse("campaigns:ses_hook") == HOOK


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_permanent_bounce_is_stored_answered_and_suppresses_the_address(
    client, key, version, django_capture_on_commit_callbacks
):
    message = envelope(key, sample("ses_bounce_permanent.json"), version=version)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, message)

    assert response.status_code == 200
    stored = FeedbackEvent.objects.get()
    assert (stored.event_type, stored.sns_message_id, stored.processed_at is not None) == (
        "Bounce",
        message["MessageId"],
        True,
    )
    suppression = Suppression.objects.get(address_hmac=address_hmac("jane@example.com"))
    assert (suppression.scope, suppression.reason) == (SuppressionScope.ALL, SuppressionReason.BOUNCE)


def test_a_complaint_without_a_feedback_type_suppresses_marketing(client, key, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, envelope(key, sample("ses_complaint_without_feedback_type.json"), version="2"))

    assert response.status_code == 200
    suppression = Suppression.objects.get(address_hmac=address_hmac("richard@example.com"))
    assert (suppression.scope, suppression.reason) == (SuppressionScope.MARKETING, SuppressionReason.COMPLAINT)


def test_the_same_message_twice_is_stored_once_and_both_are_answered_200(client, key):
    message = envelope(key, sample("ses_delivery.json"))

    assert post(client, message).status_code == 200
    assert post(client, message).status_code == 200
    assert FeedbackEvent.objects.count() == 1


def _bad_signature(key):
    message = envelope(key, sample("ses_bounce_permanent.json"))
    message["Message"] = message["Message"].replace("jane@", "june@")
    return message


FORGERIES = {
    "bad signature": _bad_signature,
    "http certificate URL": lambda key: envelope(
        key, sample("ses_bounce_permanent.json"), cert_url=CERT_URL.replace("https://", "http://")
    ),
    "certificate on an S3 host": lambda key: envelope(
        key,
        sample("ses_bounce_permanent.json"),
        cert_url="https://sns-certs.s3.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem",
    ),
    "host that only starts like SNS": lambda key: envelope(
        key,
        sample("ses_bounce_permanent.json"),
        cert_url=CERT_URL.replace("amazonaws.com/", "amazonaws.com.evil.example/"),
    ),
    "unknown topic": lambda key: envelope(
        key, sample("ses_bounce_permanent.json"), topic_arn="arn:aws:sns:eu-west-2:999999999999:other"
    ),
    "stale timestamp": lambda key: {
        **signed_envelope(
            key,
            message=sample("ses_bounce_permanent.json"),
            timestamp=datetime.now(UTC) - timedelta(hours=2),
            message_id=str(uuid.uuid4()),
        )
    },
}


@pytest.mark.parametrize("forgery", FORGERIES, ids=list(FORGERIES))
def test_a_forged_or_foreign_notification_is_refused_with_400_and_changes_nothing(client, key, forgery, caplog):
    response = post(client, FORGERIES[forgery](key))

    assert response.status_code == 400
    assert nothing_written()
    assert "SES hook refused a request" in caplog.text


def test_a_header_that_disagrees_with_the_body_is_refused(client, key):
    response = post(client, envelope(key, sample("ses_bounce_permanent.json")), kind="SubscriptionConfirmation")

    assert response.status_code == 400 and nothing_written()


def test_malformed_json_is_refused(client):
    response = post(client, b'{"Type": "Notification", ', kind="Notification")

    assert response.status_code == 400 and nothing_written()


def test_a_five_megabyte_body_is_refused_without_reading_it(client, network):
    response = post(client, b"{" + b" " * (5 * 1024 * 1024) + b"}", kind="Notification")

    assert response.status_code == 400 and nothing_written()
    assert network.requests == []


def test_get_is_not_allowed(client):
    assert client.get(HOOK).status_code == 405


def test_a_certificate_fetch_that_fails_once_does_not_poison_later_deliveries(client, key, network):
    message = envelope(key, sample("ses_delivery.json"))
    network.failures_to_come = 1

    first = post(client, message)
    second = post(client, message)

    assert (first.status_code, second.status_code) == (503, 200), "503 so that SNS delivers the message again"
    assert FeedbackEvent.objects.count() == 1
    assert [url for url, _ in network.requests] == [CERT_URL, CERT_URL]


def test_a_subscription_confirmation_for_our_topic_is_confirmed_by_fetching_its_subscribe_url(client, key, network):
    message = signed_envelope(key, message_type="SubscriptionConfirmation", timestamp=datetime.now(UTC))
    network.documents[SUBSCRIBE_URL] = b"<ConfirmSubscriptionResponse/>"

    response = post(client, message)

    assert response.status_code == 200
    assert SUBSCRIBE_URL in [url for url, _ in network.requests]
    assert nothing_written()


def test_a_subscription_confirmation_with_a_foreign_subscribe_url_is_refused_without_fetching_it(client, key, network):
    foreign = "https://evil.example/?Action=ConfirmSubscription&TopicArn=" + TOPIC_ARN
    message = signed_envelope(
        key, message_type="SubscriptionConfirmation", timestamp=datetime.now(UTC), subscribe_url=foreign
    )

    response = post(client, message)

    assert response.status_code == 400
    assert foreign not in [url for url, _ in network.requests]
