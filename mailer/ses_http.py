"""SES v2 ``SendEmail``, the call every message makes, as one signed request on a kept-alive connection.

A boto3 call costs about a millisecond of CPU (event hooks, endpoint rules, serialising, signing, urllib3):
more than building the message, and on a busy worker the largest part of a send. This module makes exactly
the request boto3 would make, with what the boto3 client already knows: its endpoint, region, signing name,
credentials and timeouts. It writes the JSON body itself, signs it with Signature Version 4 (the signing key is
derived once a day, not on every call) and sends it over one persistent connection per thread (``http11``).
Error answers are parsed by botocore's own parser, so codes and messages read exactly as through boto3.

What happens to a request decides what a failure means:

- it could not be written (no connection, refused, reset while writing): SES cannot have it: ``NotSent``;
- it was written and no complete answer came (timeout, connection lost): SES may have it: ``NoAnswer``;
- SES answered with an error: ``ErrorAnswer`` with the HTTP status, SES's error code and message.

Every other call (account, quota, suppression list) goes through boto3 as before.

Owning the signing and the connection is worth it only while it is measurably cheaper: ``bench/bench_ses_call.py``
compares the two on the same message (0.2 to 0.25 ms of CPU here against 1.5 to 2 ms through boto3, recorded in
docs/BENCHMARKS.md). Should boto3's own path come close, this module should go and ``ses_send_raw`` call boto3.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import ssl
import threading
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.compat import HTTPHeaders
from botocore.parsers import create_parser

from mailer.errors import MailerError

from .http11 import Connection, ReadFailed, WriteFailed

ALGORITHM = "AWS4-HMAC-SHA256"
CONTENT_TYPE = "application/json"
USER_AGENT = "newsletter-platform (SES v2 SendEmail)"


class NotSent(MailerError):
    """The request never reached SES whole: sending it again cannot deliver twice."""


class NoAnswer(MailerError):
    """The request reached SES and no answer came back: SES may or may not have accepted it."""


class ErrorAnswer(MailerError):
    """SES answered with an error."""

    def __init__(self, *, status: int, code: str, message: str):
        super().__init__(f"{code or status}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class SigV4Signer:
    """AWS Signature Version 4 for one region and service, with the day's signing key kept per secret key."""

    def __init__(self, *, region: str, service: str):
        self.region, self.service = region, service
        self._keys: dict[tuple[str, str], bytes] = {}

    def _signing_key(self, secret_key: str, day: str) -> bytes:
        key = self._keys.get((secret_key, day))
        if key is None:
            key = _hmac(f"AWS4{secret_key}".encode(), day)
            for part in (self.region, self.service, "aws4_request"):
                key = _hmac(key, part)
            self._keys = {(secret_key, day): key}  # yesterday's key is never needed again
        return key

    def headers(
        self, *, method: str, host: str, path: str, body: bytes, credentials: Credentials, now: datetime.datetime
    ) -> dict[str, str]:
        """The headers of a signed request: Content-Type, X-Amz-Date, the session token if any, Authorization.
        ``host`` is the Host header as sent (with the port only when it is not the scheme's default)."""
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        signed = {"content-type": CONTENT_TYPE, "host": host, "x-amz-date": stamp}
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = ";".join(sorted(signed))
        canonical = "\n".join(
            (
                method,
                path,
                "",  # no query string
                "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)),
                names,
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join((ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()))
        signature = hmac.new(self._signing_key(credentials.secret_key, day), to_sign.encode(), hashlib.sha256)
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Date": stamp}
        if credentials.token:
            headers["X-Amz-Security-Token"] = credentials.token
        headers["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature.hexdigest()}"
        )
        return headers


def send_email_body(params: dict) -> bytes:
    """The JSON body of SendEmail for ``params`` as boto3 takes them (``Content.Raw.Data`` as bytes).

    A raw message goes in as base64, which never needs JSON escaping: it is placed into the JSON of the other
    parameters as it is, rather than scanned character by character by the JSON encoder (most of the cost).
    """
    compact = {"separators": (",", ":"), "ensure_ascii": True}
    raw = params["Content"].get("Raw")
    if raw is None:
        return json.dumps(params, **compact).encode()
    others = json.dumps({name: value for name, value in params.items() if name != "Content"}, **compact)
    separator = "," if len(others) > 2 else ""
    return b"".join(
        (b'{"Content":{"Raw":{"Data":"', base64.b64encode(raw["Data"]), b'"}}', separator.encode(), others[1:].encode())
    )


class SendEmailClient:
    """Sends SES v2 SendEmail requests for the boto3 ``client`` it is made from. Thread-safe: one connection
    per thread."""

    def __init__(self, client, *, credentials, connect_timeout: float, read_timeout: float):
        """``credentials``: botocore credentials (refreshable ones are refreshed by botocore as they expire)."""
        meta = client.meta
        url = urlsplit(meta.endpoint_url)
        self.secure = url.scheme == "https"
        self.hostname = url.hostname
        self.port = url.port or (443 if self.secure else 80)
        default_port = url.port is None or url.port == (443 if self.secure else 80)
        self.host = self.hostname if default_port else f"{self.hostname}:{self.port}"
        self.operation = meta.service_model.operation_model("SendEmail")
        self.path = url.path.rstrip("/") + self.operation.http["requestUri"]
        self.signer = SigV4Signer(region=meta.region_name, service=meta.service_model.signing_name)
        self._credentials = credentials
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._local = threading.local()
        self._parser = create_parser(meta.service_model.protocol)
        self._tls = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None) if self.secure else None

    def credentials(self) -> Credentials:
        if self._credentials is None:
            raise NotSent("no AWS credentials were found (environment, configuration files or instance role)")
        frozen = self._credentials.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _proxy(self) -> tuple[str, int] | None:
        scheme = "https" if self.secure else "http"
        proxy = urllib.request.getproxies().get(scheme)
        if not proxy or urllib.request.proxy_bypass(self.hostname):
            return None
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return parts.hostname, parts.port or 80

    def _connect(self) -> Connection:
        return Connection(
            self.hostname,
            self.port,
            tls=self._tls,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            proxy=self._proxy(),
        )

    def _connection(self) -> Connection:
        connection = getattr(self._local, "connection", None)
        if connection is not None and connection.is_dropped():
            self._forget_connection()
            connection = None
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        return connection

    def _forget_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def send_email(self, params: dict) -> str:
        """Send one SendEmail request; returns SES's MessageId. Raises NotSent, NoAnswer or ErrorAnswer."""
        body = send_email_body(params)
        credentials = self.credentials()
        headers = self.signer.headers(
            method="POST",
            host=self.host,
            path=self.path,
            body=body,
            credentials=credentials,
            now=datetime.datetime.now(datetime.UTC),
        )
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n{head}User-Agent: {USER_AGENT}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        try:
            connection = self._connection()
        except OSError as err:
            raise NotSent(f"{type(err).__name__}: {err}") from err
        try:
            response = connection.exchange(head, body)
        except WriteFailed as err:
            self._forget_connection()
            raise NotSent(str(err)) from err
        except ReadFailed as err:
            self._forget_connection()
            raise NoAnswer(str(err)) from err
        if not response.keep_alive:
            self._forget_connection()
        if 200 <= response.status < 300:
            try:
                return json.loads(response.body)["MessageId"]
            except (ValueError, KeyError, TypeError) as err:
                raise NoAnswer(f"SES answered {response.status} without a message id") from err
        raise self._error(response.status, response.headers, response.body)

    def _error(self, status: int, headers, data: bytes) -> ErrorAnswer:
        parsed = self._parser.parse(
            {"status_code": status, "headers": HTTPHeaders.from_dict(headers), "body": data},
            self.operation.output_shape,
        )
        error = parsed.get("Error", {})
        return ErrorAnswer(status=status, code=error.get("Code", ""), message=error.get("Message", "") or str(status))
