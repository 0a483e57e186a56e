"""SendEmail without boto3's per-call path: the same signature, the same body, and honest connection handling."""

import datetime
import json
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from mailer.ses_http import (
    Credentials,
    ErrorAnswer,
    NoAnswer,
    NotSent,
    SendEmailClient,
    SigV4Signer,
    send_email_body,
)

NOW = datetime.datetime(2026, 1, 31, 23, 59, 58, tzinfo=datetime.UTC)
PARAMS = {
    "FromEmailAddress": "news@shop.example",
    "Destination": {"ToAddresses": ["zoë@xn--bcher-kva.example"]},
    "Content": {"Raw": {"Data": b"Subject: Hi\r\n\r\n" + bytes(range(256)) * 40}},
    "EmailTags": [{"Name": "send", "Value": "7"}, {"Name": "delivery", "Value": "12345"}],
    "ConfigurationSetName": "marketing",
}


def boto_client(endpoint: str | None = None, region: str = "eu-west-2"):
    return boto3.client(
        "sesv2",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEJr//////////wEaDH"])
@pytest.mark.parametrize("url", ["https://email.eu-west-2.amazonaws.com", "http://127.0.0.1:4567"])
def test_the_signature_is_the_one_botocore_computes(monkeypatch, token, url):
    body = send_email_body(PARAMS)
    path = "/v2/email/outbound-emails"
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    host = url.split("://")[1]

    ours = SigV4Signer(region="eu-west-2", service="ses").headers(
        method="POST", host=host, path=path, body=body, credentials=credentials, now=NOW
    )

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url + path, data=body, headers={"Content-Type": "application/json"})
    botocore.auth.SigV4Auth(
        BotoCredentials(credentials.access_key, credentials.secret_key, token), "ses", "eu-west-2"
    ).add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"] == "20260131T235958Z"
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


def test_a_new_day_gets_a_new_signing_key():
    signer = SigV4Signer(region="eu-west-2", service="ses")
    credentials = Credentials("AKIDEXAMPLE", "secret")
    sign = lambda now: signer.headers(  # noqa: E731
        method="POST", host="h", path="/", body=b"{}", credentials=credentials, now=now
    )["Authorization"]
    before_midnight = sign(NOW)
    after_midnight = sign(NOW + datetime.timedelta(seconds=3))
    assert "/20260131/" in before_midnight and "/20260201/" in after_midnight
    assert sign(NOW) == before_midnight


def test_the_body_is_the_one_botocore_serialises():
    client = boto_client()
    captured = {}

    def capture(request, **kwargs):
        captured["body"] = request.body

    client.meta.events.register("before-sign.sesv2.SendEmail", capture)
    client.meta.events.register("before-send.sesv2.SendEmail", lambda **kwargs: _answer_ok())
    client.send_email(**PARAMS)

    assert json.loads(send_email_body(PARAMS)) == json.loads(captured["body"])


def _answer_ok():
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **kwargs):
            yield b'{"MessageId": "m"}'

    return AWSResponse("http://x", 200, {}, Raw())


class Recorder:
    """A loopback SES stand-in: records each request, answers with the queued (status, headers, body), and
    closes a kept-alive connection after ``idle_seconds`` of silence, as load balancers do."""

    def __init__(self, *, idle_seconds: float = 30.0, tls: ssl.SSLContext | None = None):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict, bytes]] = []
        self.connections = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_seconds

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                recorder.connections += 1

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, headers, data = recorder.answers.pop(0) if recorder.answers else (200, {}, None)
                data = data if data is not None else json.dumps({"MessageId": f"m{len(recorder.requests)}"}).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def sender_for(url: str, **kwargs) -> SendEmailClient:
    return SendEmailClient(
        boto_client(url),
        credentials=kwargs.pop("credentials", BotoCredentials("AKIDEXAMPLE", "secret")),
        connect_timeout=kwargs.pop("connect_timeout", 2),
        read_timeout=kwargs.pop("read_timeout", 2),
    )


@pytest.fixture
def recorder():
    server = Recorder(idle_seconds=0.2)
    yield server
    server.close()


def test_messages_share_one_connection_and_survive_the_server_closing_it_while_idle(recorder):
    sender = sender_for(recorder.url)

    assert sender.send_email(PARAMS) == "m1"
    assert sender.send_email(PARAMS) == "m2"
    assert recorder.connections == 1
    time.sleep(0.6)  # the server closes the idle connection
    assert sender.send_email(PARAMS) == "m3"

    assert len(recorder.requests) == 3, "each message reached the server exactly once"
    assert recorder.connections == 2
    request = recorder.requests[0]
    assert request["path"] == "/v2/email/outbound-emails"
    assert request["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert json.loads(request["body"])["EmailTags"] == PARAMS["EmailTags"]


def test_an_error_answer_carries_the_ses_code_and_message(recorder):
    recorder.answers.append(
        (
            400,
            {"x-amzn-ErrorType": "MessageRejected:http://internal.amazon.com/"},
            b'{"message": "Email address is not verified."}',
        )
    )
    recorder.answers.append(
        (429, {"x-amzn-ErrorType": "TooManyRequestsException"}, b'{"message": "Maximum sending rate exceeded."}')
    )
    sender = sender_for(recorder.url)

    with pytest.raises(ErrorAnswer) as rejected:
        sender.send_email(PARAMS)
    assert (rejected.value.status, rejected.value.code) == (400, "MessageRejected")
    assert rejected.value.message == "Email address is not verified."
    with pytest.raises(ErrorAnswer) as throttled:
        sender.send_email(PARAMS)
    assert (throttled.value.status, throttled.value.code) == (429, "TooManyRequestsException")
    assert sender.send_email(PARAMS) == "m3", "the connection stays usable after an error answer"


def test_no_credentials_is_not_sent_and_says_so(recorder):
    sender = sender_for(recorder.url, credentials=None)

    with pytest.raises(NotSent, match="no AWS credentials"):
        sender.send_email(PARAMS)
    assert recorder.requests == []


def test_a_refused_connection_is_not_sent():
    with pytest.raises(NotSent, match="ConnectionRefused"):
        sender_for("http://127.0.0.1:9").send_email(PARAMS)


def test_a_request_without_an_answer_in_time_is_no_answer(recorder):
    sender = sender_for(recorder.url, read_timeout=0.3)
    original = recorder.server.RequestHandlerClass.do_POST

    def late(handler):
        time.sleep(1)
        original(handler)

    recorder.server.RequestHandlerClass.do_POST = late
    with pytest.raises(NoAnswer, match="timed out"):
        sender.send_email(PARAMS)
    time.sleep(1)
    assert len(recorder.requests) == 1


@pytest.fixture
def certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_tls_certificates_are_verified(certificate, monkeypatch):
    key, cert = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = Recorder(tls=tls)
    try:
        with pytest.raises(NotSent, match="CERTIFICATE_VERIFY_FAILED"):
            sender_for(server.url).send_email(PARAMS)
        assert server.requests == []

        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        assert sender_for(server.url).send_email(PARAMS) == "m1"
        assert server.requests[0]["headers"]["Host"] == server.url.removeprefix("https://")
    finally:
        server.close()
