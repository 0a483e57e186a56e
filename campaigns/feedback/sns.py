"""Verification of Amazon SNS HTTP(S) messages, the only way SES events reach us (``/hooks/ses/``).

Anyone can POST to the hook, and what arrives there suppresses addresses and pauses sends, so nothing is
believed until every check has passed. Peers have skipped the signature, accepted SignatureVersion 1 only,
trusted any certificate URL under ``amazonaws.com`` (S3 buckets live there, so anyone could host a "signing
certificate"), cached a failed certificate fetch until restart, and fetched any SubscribeURL they were sent.
Here cheap checks come before any network fetch, a certificate or subscribe URL must be exactly
``https://sns.<region>.amazonaws.com[.cn]/...`` (checked again by the store before it fetches), and only
successful certificate fetches are cached.

Protocol: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
Message formats: https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html
"""

import base64
import binascii
import functools
import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from campaigns.errors import CampaignError

MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")

# The fields each message type signs, in the (byte-sorted) order of the string to sign. Subject is signed
# only when the notification has one.
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
SIGNATURE_FIELDS = ("Signature", "SignatureVersion", "SigningCertURL")

# SignatureVersion 1 is SHA1withRSA (still the default for a new topic), 2 is SHA256withRSA.
SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

# Whole host, anchored by fullmatch: sns.eu-west-2.amazonaws.com, sns.us-gov-west-1.amazonaws.com,
# sns.cn-north-1.amazonaws.com.cn. ASCII classes only (no \d, which also matches non-ASCII digits).
SNS_HOST_PATTERN = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}\.amazonaws\.com(?:\.cn)?")
CERTIFICATE_PATH_PATTERN = re.compile(r"/SimpleNotificationService-[A-Za-z0-9]{1,128}\.pem")
# Characters RFC 3986 allows in a URL; anything else (spaces, control characters, backslashes, non-ASCII)
# could be read differently by the parser that checks the URL and the one that fetches it.
URL_CHARACTERS_PATTERN = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")

RESPONSE_MAX_BYTES = 64 * 1024  # a certificate is about 2 KB


class SnsVerificationError(CampaignError):
    """An SNS message (or URL in one) was refused. ``reason`` is short and safe to log, not to show the caller."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SnsFetchFailed(SnsVerificationError):
    """Fetching the signing certificate or the SubscribeURL failed, perhaps only for now. Worth answering 5xx,
    which SNS retries as a server-side error; SNS does not promise to retry a 4xx.
    https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html
    """


def sns_url_is_trusted(url: str, *, kind: Literal["certificate", "subscribe"]) -> bool:
    """Whether ``url`` is an Amazon SNS signing-certificate URL (``kind="certificate"``) or SubscribeURL
    (``kind="subscribe"``): https, no userinfo, default port, an SNS regional host, and the expected path."""
    if not isinstance(url, str) or not URL_CHARACTERS_PATTERN.fullmatch(url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or "@" in parts.netloc or port not in (None, 443):
        return False
    if not SNS_HOST_PATTERN.fullmatch(parts.hostname or "") or "#" in url:
        return False
    if kind == "certificate":
        return "?" not in url and bool(CERTIFICATE_PATH_PATTERN.fullmatch(parts.path))
    if kind == "subscribe":
        try:
            query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            return False
        return parts.path == "/" and query.get("Action") == ["ConfirmSubscription"]
    raise ValueError(f"Unknown SNS URL kind {kind!r}; expected 'certificate' or 'subscribe'.")


def https_get(url: str, timeout: float) -> bytes:
    """GET an https URL and return at most 64 KiB of its body. Redirects are refused, not followed (the
    checked host must be the host we talk to), and only https is possible: no http, file or ftp handler."""
    opener = urllib.request.OpenerDirector()
    handlers = (urllib.request.ProxyHandler(), urllib.request.HTTPSHandler(), _RefuseRedirects())
    errors = (
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    )
    for handler in (*handlers, *errors):
        opener.add_handler(handler)
    # S310 warns about file: and custom schemes; this opener can only speak https.
    request = urllib.request.Request(url, headers={"User-Agent": "newsletter-platform SNS verifier"})  # noqa: S310
    with opener.open(request, timeout=timeout) as response:
        body = response.read(RESPONSE_MAX_BYTES + 1)
    if len(body) > RESPONSE_MAX_BYTES:
        raise urllib.error.URLError(f"response from {url} is larger than {RESPONSE_MAX_BYTES} bytes")
    return body


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError for the 3xx instead of following it


class CertificateStore:
    """SNS signing certificates by URL, fetched on first use and kept in memory.

    Only successes are cached (least recently used first out, each for at most ``ttl_seconds``), so a fetch
    that fails is tried again by the next delivery. ``fetch(url, timeout) -> bytes`` is the network; tests
    pass their own. The URL is checked here as well as by the caller, before anything is fetched.
    """

    def __init__(
        self,
        *,
        fetch: Callable[[str, float], bytes] | None = None,
        max_size: int = 32,
        ttl_seconds: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._fetch = fetch or https_get
        self._max_size = max_size
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, x509.Certificate]] = OrderedDict()
        self._lock = threading.Lock()

    def certificate(self, url: str) -> x509.Certificate:
        """The certificate at ``url``; raises SnsVerificationError for an untrusted URL or unusable document,
        SnsFetchFailed when the fetch fails."""
        _certificate_url_check(url)
        with self._lock:
            cached = self._cache.get(url)
            if cached and self._clock() - cached[0] < self._ttl_seconds:
                self._cache.move_to_end(url)
                return cached[1]
        timeout = float(getattr(settings, "SNS_CERT_TIMEOUT_SECONDS", 5))
        try:
            document = self._fetch(url, timeout)
        except (OSError, http.client.HTTPException) as err:  # URLError, HTTPError and timeouts are OSErrors
            raise SnsFetchFailed(f"Could not fetch the signing certificate {url}: {err}") from err
        try:
            certificate = x509.load_pem_x509_certificate(document)
        except ValueError as err:
            raise SnsVerificationError(f"The document at {url} is not a PEM certificate") from err
        with self._lock:
            self._cache[url] = (self._clock(), certificate)
            self._cache.move_to_end(url)
            while len(self._cache) > self._max_size:
                self._cache.popitem(last=False)
        return certificate


@functools.lru_cache(maxsize=4)
def _store_for(fetch_path: str) -> CertificateStore:
    return CertificateStore(fetch=sns_fetch_function(fetch_path))


def sns_fetch_function(fetch_path: str | None = None) -> Callable[[str, float], bytes]:
    """The function that GETs certificates and subscribe URLs: ``https_get`` unless ``SNS_HTTP_FETCH`` names
    another (a dotted path; the tests name one that serves a test certificate, as a proxy set-up could)."""
    fetch_path = getattr(settings, "SNS_HTTP_FETCH", "") if fetch_path is None else fetch_path
    return import_string(fetch_path) if fetch_path else https_get


def certificate_store() -> CertificateStore:
    """The process's certificate store, for the configured fetch function."""
    return _store_for(getattr(settings, "SNS_HTTP_FETCH", ""))


def sns_message_verify(
    *,
    body: bytes,
    message_type_header: str | None,
    certificates: CertificateStore | None = None,
    now: datetime | None = None,
) -> dict:
    """Return the SNS message in ``body`` (the raw POST body) once it is proven genuine, fresh and for one
    of our topics; raise SnsVerificationError naming the first problem otherwise.

    ``message_type_header`` is the request's ``x-amz-sns-message-type`` header (None when absent).
    """
    now = now or datetime.now(UTC)
    max_bytes = int(getattr(settings, "SNS_MAX_BODY_BYTES", 256 * 1024))
    if len(body) > max_bytes:
        raise SnsVerificationError(f"Body of {len(body)} bytes is larger than the {max_bytes} allowed")
    try:
        message = json.loads(body.decode("utf-8"), object_pairs_hook=_object_without_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise SnsVerificationError(f"Body is not UTF-8 JSON: {err}") from err
    if not isinstance(message, dict):
        raise SnsVerificationError("Body is not a JSON object")

    message_type = message.get("Type")
    if message_type not in MESSAGE_TYPES:
        raise SnsVerificationError(f"Type {message_type!r:.60} is not an SNS message type")
    if message_type_header != message_type:
        raise SnsVerificationError(
            f"x-amz-sns-message-type header {message_type_header!r:.60} does not match Type {message_type!r}"
        )
    for field in (*SIGNED_FIELDS[message_type], *SIGNATURE_FIELDS):
        optional = field == "Subject" and field not in message
        if not optional and not isinstance(message.get(field), str):
            raise SnsVerificationError(f"Field {field} is missing or not a string")

    if message["TopicArn"] not in sns_topic_arns_allowed():
        raise SnsVerificationError(f"TopicArn {message['TopicArn']!r:.200} is not on SES_SNS_TOPIC_ARNS")
    _timestamp_check(message["Timestamp"], now=now)
    hash_algorithm = SIGNATURE_HASHES.get(message["SignatureVersion"])
    if hash_algorithm is None:
        raise SnsVerificationError(f"SignatureVersion {message['SignatureVersion']!r:.20} is not 1 or 2")
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except binascii.Error as err:
        raise SnsVerificationError("Signature is not base64") from err
    _certificate_url_check(message["SigningCertURL"])

    certificate = (certificates or certificate_store()).certificate(message["SigningCertURL"])
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SnsVerificationError(
            f"The signing certificate is valid from {certificate.not_valid_before_utc:%Y-%m-%d} "
            f"to {certificate.not_valid_after_utc:%Y-%m-%d}, not now"
        )
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SnsVerificationError("The signing certificate does not hold an RSA key")
    try:
        public_key.verify(signature, sns_string_to_sign(message=message), padding.PKCS1v15(), hash_algorithm())
    except InvalidSignature as err:
        raise SnsVerificationError("Signature does not match the message") from err
    return message


def sns_string_to_sign(*, message: dict) -> bytes:
    """The canonical string SNS signs: ``Name\\nvalue\\n`` for each signed field of the message's type."""
    fields = SIGNED_FIELDS[message["Type"]]
    return "".join(f"{field}\n{message[field]}\n" for field in fields if field in message).encode("utf-8")


def sns_topic_arns_allowed() -> frozenset[str]:
    """SES_SNS_TOPIC_ARNS as a set; empty (refuse everything) when unset."""
    arns = getattr(settings, "SES_SNS_TOPIC_ARNS", [])
    if isinstance(arns, str):
        # "arn" in "arn:aws:sns:..." would be a substring test, not membership: refuse to start instead.
        raise ImproperlyConfigured("SES_SNS_TOPIC_ARNS must be a list of topic ARNs, not a string.")
    return frozenset(arns)


def sns_subscription_confirm(*, message: dict, fetch: Callable[[str, float], bytes] | None = None) -> None:
    """Confirm the subscription a verified SubscriptionConfirmation asks for, by GETting its SubscribeURL,
    only when the topic is allowlisted and the URL is an SNS ConfirmSubscription URL for that same topic.

    Raises SnsVerificationError when refused, its subclass SnsFetchFailed when the request itself fails.
    """
    if message.get("Type") != "SubscriptionConfirmation":
        raise SnsVerificationError(f"Type {message.get('Type')!r:.60} is not SubscriptionConfirmation")
    topic_arn = message.get("TopicArn")
    if not isinstance(topic_arn, str) or topic_arn not in sns_topic_arns_allowed():
        raise SnsVerificationError(f"TopicArn {topic_arn!r:.200} is not on SES_SNS_TOPIC_ARNS")
    url = message.get("SubscribeURL")
    if not isinstance(url, str) or not sns_url_is_trusted(url, kind="subscribe"):
        raise SnsVerificationError(f"SubscribeURL is not an Amazon SNS confirmation URL: {url!r:.200}")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    if query.get("TopicArn", [topic_arn]) != [topic_arn]:
        raise SnsVerificationError("SubscribeURL names a different topic from the message's TopicArn")
    timeout = float(getattr(settings, "SNS_CERT_TIMEOUT_SECONDS", 5))
    try:
        (fetch or sns_fetch_function())(url, timeout)
    except (OSError, http.client.HTTPException) as err:
        raise SnsFetchFailed(f"Could not confirm the subscription to {topic_arn}: {err}") from err


def _certificate_url_check(url: str) -> None:
    if not sns_url_is_trusted(url, kind="certificate"):
        raise SnsVerificationError(f"SigningCertURL is not an Amazon SNS certificate URL: {url!r:.200}")


def _timestamp_check(timestamp: str, *, now: datetime) -> None:
    try:
        sent = datetime.fromisoformat(timestamp)
    except ValueError as err:
        raise SnsVerificationError(f"Timestamp {timestamp!r:.40} is not ISO 8601") from err
    if sent.tzinfo is None:
        raise SnsVerificationError(f"Timestamp {timestamp!r:.40} has no time zone")
    max_age = timedelta(seconds=int(getattr(settings, "SNS_MAX_AGE_SECONDS", 3600)))
    if sent < now - max_age:
        raise SnsVerificationError(f"Timestamp {timestamp} is more than {max_age} old")
    if sent > now + max_age:
        raise SnsVerificationError(f"Timestamp {timestamp} is more than {max_age} in the future")


def _object_without_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    # With a repeated key, what we verify and what another JSON reader acts on could differ.
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a key is repeated")
    return dict(pairs)
