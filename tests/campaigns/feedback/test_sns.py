"""Verification of Amazon SNS messages (campaigns/feedback/sns.py) with a key and certificate made in the test.

The certificate reaches the store through an injected fetch function standing in for the network; it
records every request and fails on demand, so each refusal can also show whether it cost a fetch.
Messages are signed here over the string to sign as the AWS page describes it, independently of the code
under test: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

import base64
import http.server
import json
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from campaigns.feedback import sns
from campaigns.feedback.sns import (
    CertificateStore,
    SnsFetchFailed,
    SnsVerificationError,
    https_get,
    sns_message_verify,
    sns_subscription_confirm,
    sns_url_is_trusted,
)
from tests.campaigns.sns_signing import (
    CERT_URL,
    EXPIRED_CERT_URL,
    NOW,
    OTHER_TOPIC_ARN,
    SUBSCRIBE_URL,
    TOKEN,
    TOPIC_ARN,
    FakeNetwork,
    body_of,
    certificate_pem,
    sample,
    signed_envelope,
    sns_time,
)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def certificates_served(signing_key) -> dict[str, bytes]:
    """A valid certificate at CERT_URL and an expired one (same key) at EXPIRED_CERT_URL."""
    return {
        CERT_URL: certificate_pem(
            signing_key, not_before=datetime(2020, 1, 1, tzinfo=UTC), not_after=datetime(2099, 1, 1, tzinfo=UTC)
        ),
        EXPIRED_CERT_URL: certificate_pem(
            signing_key, not_before=datetime(2020, 1, 1, tzinfo=UTC), not_after=datetime(2024, 1, 1, tzinfo=UTC)
        ),
    }


@pytest.fixture(autouse=True)
def _allowlisted_topic(settings):
    settings.SES_SNS_TOPIC_ARNS = [TOPIC_ARN]


@pytest.fixture
def network(certificates_served) -> FakeNetwork:
    return FakeNetwork(certificates_served)


@pytest.fixture
def store(network) -> CertificateStore:
    return CertificateStore(fetch=network)


def verify(envelope: dict, store: CertificateStore, *, header: str | None = "same", now: datetime = NOW) -> dict:
    return sns_message_verify(
        body=body_of(envelope),
        message_type_header=envelope["Type"] if header == "same" else header,
        certificates=store,
        now=now,
    )


def refusal(envelope_or_body: dict | bytes, store: CertificateStore, **kwargs) -> str:
    """The reason sns_message_verify gives for refusing; fails the test if it accepts."""
    with pytest.raises(SnsVerificationError) as refused:
        if isinstance(envelope_or_body, bytes):
            sns_message_verify(
                body=envelope_or_body, message_type_header="Notification", certificates=store, now=NOW, **kwargs
            )
        else:
            verify(envelope_or_body, store, **kwargs)
    return refused.value.reason


# Genuine messages


def test_v1_sha1_signed_permanent_bounce_notification_verifies_and_returns_the_message(signing_key, store, network):
    envelope = signed_envelope(signing_key, version="1", message=sample("ses_bounce_permanent.json"))

    verified = verify(envelope, store)

    assert verified == envelope
    bounce = json.loads(verified["Message"])
    assert bounce["notificationType"] == "Bounce"
    assert bounce["bounce"]["bounceType"] == "Permanent"
    assert bounce["mail"]["destination"] == ["jane@example.com", "mary@example.com", "richard@example.com"]
    assert network.requests == [(CERT_URL, 5.0)]


def test_v2_sha256_signed_complaint_without_feedback_type_verifies(signing_key, store):
    envelope = signed_envelope(signing_key, version="2", message=sample("ses_complaint_without_feedback_type.json"))

    complaint = json.loads(verify(envelope, store)["Message"])

    assert complaint["notificationType"] == "Complaint"
    assert "complaintFeedbackType" not in complaint["complaint"]
    assert complaint["complaint"]["complainedRecipients"] == [{"emailAddress": "richard@example.com"}]


def test_v2_signed_delivery_notification_with_a_subject_verifies(signing_key, store):
    envelope = signed_envelope(
        signing_key, version="2", message=sample("ses_delivery.json"), subject="Amazon SES Email Event Notification"
    )

    delivery = json.loads(verify(envelope, store)["Message"])

    assert delivery["delivery"]["recipients"] == ["jane@example.com"]


def test_subscription_confirmation_verifies(signing_key, store):
    envelope = signed_envelope(signing_key, message_type="SubscriptionConfirmation", message="You have chosen ...")

    verified = verify(envelope, store)

    assert verified["SubscribeURL"] == SUBSCRIBE_URL
    assert verified["Token"] == TOKEN


def test_unsubscribe_confirmation_verifies(signing_key, store):
    envelope = signed_envelope(signing_key, message_type="UnsubscribeConfirmation", version="2")

    assert verify(envelope, store)["Type"] == "UnsubscribeConfirmation"


def test_signature_over_the_string_to_sign_written_out_as_documented_verifies(signing_key, store):
    # Given a signature over the string to sign spelled out by hand, "Name\nvalue\n" in the documented order
    timestamp = sns_time(NOW)
    string_to_sign = (
        "Message\nMy Test Message\n"
        "MessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        "Subject\nMy subject\n"
        f"Timestamp\n{timestamp}\n"
        f"TopicArn\n{TOPIC_ARN}\n"
        "Type\nNotification\n"
    )
    signature = signing_key.sign(string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    envelope = {
        "Type": "Notification",
        "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "TopicArn": TOPIC_ARN,
        "Subject": "My subject",
        "Message": "My Test Message",
        "Timestamp": timestamp,
        "SignatureVersion": "2",
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": CERT_URL,
    }

    # Then the message built from those values verifies
    assert verify(envelope, store)["Message"] == "My Test Message"


def test_verification_reads_the_clock_when_no_time_is_given(signing_key, store):
    envelope = signed_envelope(signing_key, timestamp=datetime.now(UTC))

    verified = sns_message_verify(body=body_of(envelope), message_type_header="Notification", certificates=store)

    assert verified["MessageId"] == envelope["MessageId"]


# Forged, altered and stale messages


def test_message_changed_by_one_byte_after_signing_is_refused(signing_key, store):
    envelope = signed_envelope(signing_key, message=sample("ses_bounce_permanent.json"))
    envelope["Message"] = envelope["Message"].replace('"Permanent"', '"Permanenu"')

    assert "Signature does not match" in refusal(envelope, store)


def test_subject_changed_after_signing_is_refused(signing_key, store):
    envelope = signed_envelope(signing_key, subject="Bounce")
    envelope["Subject"] = "Delivery"

    assert "Signature does not match" in refusal(envelope, store)


def test_sha256_signature_labelled_signature_version_1_is_refused(signing_key, store):
    envelope = signed_envelope(signing_key, version="1", algorithm=hashes.SHA256())

    assert "Signature does not match" in refusal(envelope, store)


def test_unknown_signature_version_is_refused_without_fetching(signing_key, store, network):
    envelope = signed_envelope(signing_key, version="3", algorithm=hashes.SHA256())

    assert "SignatureVersion '3'" in refusal(envelope, store)
    assert network.requests == []


def test_signature_that_is_not_base64_is_refused_without_fetching(signing_key, store, network):
    envelope = signed_envelope(signing_key)
    envelope["Signature"] = "not base64 at all!"

    assert "not base64" in refusal(envelope, store)
    assert network.requests == []


def test_http_certificate_url_is_refused_without_fetching(signing_key, store, network, certificates_served):
    http_url = CERT_URL.replace("https://", "http://")
    network.documents[http_url] = certificates_served[CERT_URL]  # served there too: only the URL check can refuse

    assert "SigningCertURL" in refusal(signed_envelope(signing_key, cert_url=http_url), store)
    assert network.requests == []


@pytest.mark.parametrize(
    "s3_url",
    [
        "https://s3.amazonaws.com/sns-lookalike/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns-bucket.s3.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.eu-west-2.s3.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
    ],
)
def test_certificate_on_an_s3_host_under_amazonaws_com_is_refused(
    s3_url, signing_key, store, network, certificates_served
):
    network.documents[s3_url] = certificates_served[CERT_URL]

    assert "SigningCertURL" in refusal(signed_envelope(signing_key, cert_url=s3_url), store)
    assert network.requests == []


def test_certificate_host_that_merely_starts_like_an_sns_host_is_refused(
    signing_key, store, network, certificates_served
):
    url = "https://sns.eu-west-2.amazonaws.com.evil.example/SimpleNotificationService-0123456789abcdef.pem"
    network.documents[url] = certificates_served[CERT_URL]

    assert "SigningCertURL" in refusal(signed_envelope(signing_key, cert_url=url), store)
    assert network.requests == []


def test_certificate_url_with_the_sns_host_as_userinfo_is_refused(signing_key, store, network, certificates_served):
    url = "https://sns.eu-west-2.amazonaws.com@evil.example/SimpleNotificationService-0123456789abcdef.pem"
    network.documents[url] = certificates_served[CERT_URL]

    assert "SigningCertURL" in refusal(signed_envelope(signing_key, cert_url=url), store)
    assert network.requests == []


def test_certificate_url_with_the_sns_url_in_its_query_is_refused(signing_key, store, network, certificates_served):
    url = "https://evil.example/?https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
    network.documents[url] = certificates_served[CERT_URL]

    assert "SigningCertURL" in refusal(signed_envelope(signing_key, cert_url=url), store)
    assert network.requests == []


def test_unknown_topic_is_refused_without_fetching(signing_key, store, network):
    envelope = signed_envelope(signing_key, topic_arn=OTHER_TOPIC_ARN)

    assert "not on SES_SNS_TOPIC_ARNS" in refusal(envelope, store)
    assert network.requests == []


def test_empty_topic_allowlist_refuses_every_message(signing_key, store, network, settings):
    settings.SES_SNS_TOPIC_ARNS = []

    assert "not on SES_SNS_TOPIC_ARNS" in refusal(signed_envelope(signing_key), store)
    assert network.requests == []


def test_timestamp_two_hours_old_is_refused_without_fetching(signing_key, store, network):
    envelope = signed_envelope(signing_key, timestamp=NOW - timedelta(hours=2))

    assert "old" in refusal(envelope, store)
    assert network.requests == []


def test_timestamp_two_hours_in_the_future_is_refused_without_fetching(signing_key, store, network):
    envelope = signed_envelope(signing_key, timestamp=NOW + timedelta(hours=2))

    assert "future" in refusal(envelope, store)
    assert network.requests == []


def test_timestamp_within_the_hour_either_side_is_accepted(signing_key, store):
    assert verify(signed_envelope(signing_key, timestamp=NOW - timedelta(minutes=59)), store)
    assert verify(signed_envelope(signing_key, timestamp=NOW + timedelta(minutes=59)), store)


def test_message_type_header_different_from_the_body_type_is_refused(signing_key, store, network):
    envelope = signed_envelope(signing_key)

    assert "does not match Type" in refusal(envelope, store, header="SubscriptionConfirmation")
    assert network.requests == []


def test_missing_message_type_header_is_refused(signing_key, store, network):
    envelope = signed_envelope(signing_key)

    assert "does not match Type" in refusal(envelope, store, header=None)
    assert network.requests == []


def test_malformed_json_is_refused_without_fetching(signing_key, store, network):
    body = body_of(signed_envelope(signing_key))[:-2]

    assert "not UTF-8 JSON" in refusal(body, store)
    assert network.requests == []


def test_body_that_is_not_utf8_is_refused(store, network):
    assert "not UTF-8 JSON" in refusal('{"Type": "Notification", "Message": "café"}'.encode("latin-1"), store)
    assert network.requests == []


def test_json_that_is_not_an_object_is_refused(store):
    assert "not a JSON object" in refusal(b'["Notification"]', store)


def test_body_with_a_repeated_key_is_refused(signing_key, store, network):
    # A second TopicArn could be read by another parser in place of the one that was checked.
    body = body_of(signed_envelope(signing_key)).replace(b'"Type"', f'"TopicArn": "{OTHER_TOPIC_ARN}", "Type"'.encode())

    assert "not UTF-8 JSON" in refusal(body, store)
    assert network.requests == []


def test_five_megabyte_body_is_refused_before_it_is_parsed(signing_key, store, network):
    # Given a genuinely signed message whose only fault is its size
    envelope = signed_envelope(signing_key, message="x" * (5 * 1024 * 1024))

    reason = refusal(envelope, store)

    assert "larger than the 262144 allowed" in reason
    assert network.requests == []


def test_notification_without_a_message_id_is_refused(signing_key, store, network):
    envelope = signed_envelope(signing_key)
    del envelope["MessageId"]

    assert "Field MessageId is missing" in refusal(envelope, store)
    assert network.requests == []


def test_field_that_is_not_a_string_is_refused(signing_key, store):
    envelope = signed_envelope(signing_key)
    envelope["Message"] = {"notificationType": "Bounce"}

    assert "Field Message is missing or not a string" in refusal(envelope, store)


def test_unknown_message_type_is_refused(signing_key, store):
    envelope = signed_envelope(signing_key)
    envelope["Type"] = "Notice"

    assert "not an SNS message type" in refusal(envelope, store)


def test_expired_certificate_is_refused(signing_key, store, network):
    envelope = signed_envelope(signing_key, cert_url=EXPIRED_CERT_URL)

    assert "not now" in refusal(envelope, store)
    assert network.requests == [(EXPIRED_CERT_URL, 5.0)]


def test_message_signed_by_another_key_is_refused(store):
    impostor_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert "Signature does not match" in refusal(signed_envelope(impostor_key), store)


# The certificate store


def test_certificate_fetch_that_fails_once_does_not_poison_later_deliveries(signing_key, store, network):
    # Given a network that fails the first request
    network.failures_to_come = 1
    envelope = signed_envelope(signing_key)

    # When the first delivery cannot fetch the certificate
    with pytest.raises(SnsFetchFailed):
        verify(envelope, store)

    # Then the next delivery fetches it again and verifies
    assert verify(envelope, store) == envelope
    assert network.requests == [(CERT_URL, 5.0), (CERT_URL, 5.0)]


def test_successful_certificate_fetch_is_cached(signing_key, store, network):
    verify(signed_envelope(signing_key, message="first"), store)
    verify(signed_envelope(signing_key, message="second", version="2"), store)

    assert network.requests == [(CERT_URL, 5.0)]


def test_cached_certificate_is_fetched_again_after_its_time_to_live(signing_key, network):
    clock = [1000.0]
    store = CertificateStore(fetch=network, ttl_seconds=60, clock=lambda: clock[0])
    verify(signed_envelope(signing_key), store)

    clock[0] += 61
    verify(signed_envelope(signing_key), store)

    assert len(network.requests) == 2


def test_certificate_cache_holds_at_most_max_size_certificates(signing_key, network):
    store = CertificateStore(fetch=network, max_size=1)
    store.certificate(CERT_URL)
    store.certificate(EXPIRED_CERT_URL)  # pushes CERT_URL out

    store.certificate(CERT_URL)

    assert [url for url, _ in network.requests] == [CERT_URL, EXPIRED_CERT_URL, CERT_URL]


def test_document_that_is_not_a_certificate_is_refused_and_not_cached(signing_key, network, certificates_served):
    store = CertificateStore(fetch=network)
    network.documents[CERT_URL] = b"<Error><Code>AccessDenied</Code></Error>"
    with pytest.raises(SnsVerificationError, match="not a PEM certificate"):
        verify(signed_envelope(signing_key), store)

    network.documents[CERT_URL] = certificates_served[CERT_URL]

    assert verify(signed_envelope(signing_key), store)
    assert len(network.requests) == 2


def test_certificate_store_refuses_an_untrusted_url_itself_without_fetching(network, certificates_served):
    url = "https://sns-bucket.s3.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
    network.documents[url] = certificates_served[CERT_URL]

    with pytest.raises(SnsVerificationError, match="SigningCertURL"):
        CertificateStore(fetch=network).certificate(url)
    assert network.requests == []


def test_verification_checks_the_certificate_url_before_asking_any_store(signing_key, network):
    # Given a store that would fetch anything it is asked for (as a careless replacement might)
    class TrustingStore(CertificateStore):
        def __init__(self):
            super().__init__(fetch=network)
            self.asked: list[str] = []

        def certificate(self, url):
            self.asked.append(url)
            return x509.load_pem_x509_certificate(network(url, 5.0))

    url = "https://sns-bucket.s3.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
    network.documents[url] = network.documents[CERT_URL]
    trusting_store = TrustingStore()

    # Then a message naming an untrusted URL never reaches it
    assert "SigningCertURL" in refusal(signed_envelope(signing_key, cert_url=url), trusting_store)
    assert trusting_store.asked == []
    assert network.requests == []


def test_certificate_timeout_comes_from_settings(signing_key, store, network, settings):
    settings.SNS_CERT_TIMEOUT_SECONDS = 2

    verify(signed_envelope(signing_key), store)

    assert network.requests == [(CERT_URL, 2.0)]


# URL rules


@pytest.mark.parametrize(
    "url",
    [
        CERT_URL,
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.ap-southeast-2.amazonaws.com:443/SimpleNotificationService-0123456789abcdef.pem",
    ],
)
def test_regional_sns_certificate_urls_are_trusted(url):
    assert sns_url_is_trusted(url, kind="certificate")


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://s3.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns-bucket.s3.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.com.evil.example/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.com.cn.evil.example/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.com./SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.co/SimpleNotificationService-abc.pem",
        "https://evilsns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.com@evil.example/SimpleNotificationService-abc.pem",
        "https://user:pass@sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://evil.example\\@sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://evil.example/?https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.com:8443/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem?x=1",
        "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem#x",
        "https://sns.eu-west-2.amazonaws.com/other/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem/../x.pem",
        "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-.pem",
        "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.crt",
        "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem\n",
        " https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-2.amazonaws.com\t/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-\uff12.amazonaws.com/SimpleNotificationService-abc.pem",  # full-width digit
        "file:///SimpleNotificationService-abc.pem",
        "",
    ],
)
def test_forged_certificate_urls_are_not_trusted(url):
    assert not sns_url_is_trusted(url, kind="certificate")


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        (SUBSCRIBE_URL, True),
        ("https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription&Token=abc", True),
        (SUBSCRIBE_URL.replace("https://", "http://"), False),
        (SUBSCRIBE_URL.replace("sns.eu-west-2.amazonaws.com", "sns.eu-west-2.amazonaws.com.evil.example"), False),
        (SUBSCRIBE_URL.replace("sns.eu-west-2.amazonaws.com", "sns.eu-west-2.amazonaws.com@evil.example"), False),
        (SUBSCRIBE_URL.replace("/?", "/confirm?"), False),
        (SUBSCRIBE_URL.replace("Action=ConfirmSubscription", "Action=Unsubscribe"), False),
        (SUBSCRIBE_URL + "&Action=Unsubscribe", False),
        ("https://sns.eu-west-2.amazonaws.com/", False),
        (SUBSCRIBE_URL + "#fragment", False),
    ],
)
def test_subscribe_url_rules(url, trusted):
    assert sns_url_is_trusted(url, kind="subscribe") is trusted


def test_https_get_speaks_nothing_but_https():
    for url in ("http://127.0.0.1:9/x.pem", "file:///etc/hostname", "ftp://127.0.0.1/x.pem"):
        with pytest.raises(urllib.error.URLError, match="unknown url type"):
            https_get(url, 1)


def test_redirects_are_refused_rather_than_followed():
    # Given a local server that redirects every request elsewhere
    class Redirecting(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere.pem")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # (plain http here, through the same redirect handler https_get installs)
    opener = urllib.request.build_opener(sns._RefuseRedirects)
    try:
        # When it is asked for a certificate, then the 302 is an error, not a second request
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(f"http://127.0.0.1:{server.server_port}/SimpleNotificationService-abc.pem", timeout=5)
        assert refused.value.code == 302
    finally:
        server.shutdown()
        server.server_close()


# Subscription confirmation


def test_subscription_confirmation_fetches_the_trusted_subscribe_url(signing_key, store):
    message = verify(signed_envelope(signing_key, message_type="SubscriptionConfirmation"), store)
    sns_network = FakeNetwork({SUBSCRIBE_URL: b"<ConfirmSubscriptionResponse/>"})

    sns_subscription_confirm(message=message, fetch=sns_network)

    assert sns_network.requests == [(SUBSCRIBE_URL, 5.0)]


def test_subscription_confirmation_with_an_untrusted_subscribe_url_host_is_refused_without_fetching(signing_key):
    url = SUBSCRIBE_URL.replace("sns.eu-west-2.amazonaws.com", "sns.eu-west-2.amazonaws.com.evil.example")
    message = signed_envelope(signing_key, message_type="SubscriptionConfirmation", subscribe_url=url)
    sns_network = FakeNetwork({url: b"ok"})

    with pytest.raises(SnsVerificationError, match="SubscribeURL"):
        sns_subscription_confirm(message=message, fetch=sns_network)
    assert sns_network.requests == []


def test_subscription_confirmation_for_an_unlisted_topic_is_refused_without_fetching(signing_key):
    url = SUBSCRIBE_URL.replace(TOPIC_ARN, OTHER_TOPIC_ARN)
    message = signed_envelope(
        signing_key, message_type="SubscriptionConfirmation", topic_arn=OTHER_TOPIC_ARN, subscribe_url=url
    )
    sns_network = FakeNetwork({url: b"ok"})

    with pytest.raises(SnsVerificationError, match="not on SES_SNS_TOPIC_ARNS"):
        sns_subscription_confirm(message=message, fetch=sns_network)
    assert sns_network.requests == []


def test_subscribe_url_naming_another_topic_is_refused_without_fetching(signing_key):
    url = SUBSCRIBE_URL.replace(TOPIC_ARN, OTHER_TOPIC_ARN)
    message = signed_envelope(signing_key, message_type="SubscriptionConfirmation", subscribe_url=url)
    sns_network = FakeNetwork({url: b"ok"})

    with pytest.raises(SnsVerificationError, match="different topic"):
        sns_subscription_confirm(message=message, fetch=sns_network)
    assert sns_network.requests == []


def test_unsubscribe_confirmation_is_never_acted_on(signing_key):
    message = signed_envelope(signing_key, message_type="UnsubscribeConfirmation")
    sns_network = FakeNetwork({SUBSCRIBE_URL: b"ok"})

    with pytest.raises(SnsVerificationError, match="not SubscriptionConfirmation"):
        sns_subscription_confirm(message=message, fetch=sns_network)
    assert sns_network.requests == []


def test_subscription_confirmation_that_cannot_reach_sns_raises_fetch_failed(signing_key):
    message = signed_envelope(signing_key, message_type="SubscriptionConfirmation")
    sns_network = FakeNetwork()  # every URL answers 404

    with pytest.raises(SnsFetchFailed):
        sns_subscription_confirm(message=message, fetch=sns_network)
    assert sns_network.requests == [(SUBSCRIBE_URL, 5.0)]
