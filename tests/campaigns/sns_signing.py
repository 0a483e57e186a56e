"""Signing SNS messages in tests as SNS does, with a key and certificate made in the test, and a stand-in
for the network that serves the certificate. Shared by the verifier's tests and the hook's.

Messages are signed over the string to sign as the AWS page describes it, independently of the code under
test: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

import base64
import json
import urllib.error
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

# SES notification payloads, as published in the AWS docs, used as the Message of Notifications:
# https://docs.aws.amazon.com/ses/latest/dg/notification-examples.html
#   ses_bounce_permanent.json                 "Bounce notification with a DSN" (Permanent, mail to 3 recipients)
#   ses_complaint_without_feedback_type.json  "Complaint notification without a feedback report"
#   ses_delivery.json                         "Amazon SNS delivery notification example"
SAMPLES = Path(__file__).parent / "sns_samples"

TOPIC_ARN = "arn:aws:sns:eu-west-2:123456789012:ses-events"
OTHER_TOPIC_ARN = "arn:aws:sns:eu-west-2:210987654321:someone-elses-events"
CERT_URL = "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem"
EXPIRED_CERT_URL = "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
TOKEN = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad"
SUBSCRIBE_URL = f"https://sns.eu-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token={TOKEN}"
NOW = datetime(2025, 6, 2, 12, 0, 0, 123000, tzinfo=UTC)

NOTIFICATION_SIGNED = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_SIGNED = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


class FakeNetwork:
    """Stands in for the internet: serves documents by URL, records each request, fails when told to."""

    def __init__(self, documents: dict[str, bytes] | None = None):
        self.documents = dict(documents or {})
        self.requests: list[tuple[str, float]] = []
        self.failures_to_come = 0

    def __call__(self, url: str, timeout: float) -> bytes:
        self.requests.append((url, timeout))
        if self.failures_to_come:
            self.failures_to_come -= 1
            raise urllib.error.URLError("connection reset by peer (simulated)")
        if url not in self.documents:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return self.documents[url]


def certificate_pem(key: rsa.RSAPrivateKey, *, not_before: datetime, not_after: datetime) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def sns_time(moment: datetime) -> str:
    """SNS's Timestamp format, e.g. 2012-04-26T20:45:04.751Z."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def signed_envelope(
    key: rsa.RSAPrivateKey,
    *,
    message_type: str = "Notification",
    message: str = "Hello from SNS",
    version: str = "1",
    algorithm: hashes.HashAlgorithm | None = None,
    timestamp: datetime = NOW,
    topic_arn: str = TOPIC_ARN,
    cert_url: str = CERT_URL,
    subject: str | None = None,
    subscribe_url: str = SUBSCRIBE_URL,
    message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
) -> dict:
    """An SNS HTTP message signed with ``key`` as SNS signs it: SHA1 for version 1, SHA256 for version 2."""
    envelope = {
        "Type": message_type,
        "MessageId": message_id,
        "TopicArn": topic_arn,
        "Message": message,
        "Timestamp": sns_time(timestamp),
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
    }
    if subject is not None:
        envelope["Subject"] = subject
    if message_type == "Notification":
        envelope["UnsubscribeURL"] = "https://sns.eu-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
        signed = NOTIFICATION_SIGNED
    else:
        envelope["Token"] = TOKEN
        envelope["SubscribeURL"] = subscribe_url
        signed = CONFIRMATION_SIGNED
    string_to_sign = "".join(f"{name}\n{envelope[name]}\n" for name in signed if name in envelope)
    # SignatureVersion 1 is SHA1withRSA: that is the protocol, not our choice.
    algorithm = algorithm or {"1": hashes.SHA1(), "2": hashes.SHA256()}[version]  # noqa: S303
    signature = key.sign(string_to_sign.encode("utf-8"), padding.PKCS1v15(), algorithm)
    envelope["Signature"] = base64.b64encode(signature).decode("ascii")
    return envelope


def body_of(envelope: dict) -> bytes:
    return json.dumps(envelope, indent=2).encode("utf-8")


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")
