"""The transactional mail path: MIME building, SES v2 over HTTP, error classification and retries."""

import email
import email.policy

import pytest

from mailer import ses
from mailer.ses import SesPermanentError, SesTransientError, ses_send_raw
from subscribers.mail import HeaderInjectionError, message_build
from subscribers.tasks import transactional_email_send_task


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_message_is_multipart_alternative_utf8_with_encoded_headers(settings):
    raw = message_build(
        to="zoe@mail.example",
        subject="Café • offers",
        text="Hello Zoë",
        html="<p>Hello Zoë</p>",
        headers={"List-Unsubscribe": "<https://shop.example/u/1/>"},
    )

    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Café • offers"
    assert "=?utf-8?" in raw.decode("ascii").split("\r\n\r\n")[0].lower()  # RFC 2047 on the wire
    assert message.get_body(("plain",)).get_content().strip() == "Hello Zoë"
    assert message.get_body(("html",)).get_content().strip() == "<p>Hello Zoë</p>"
    assert message["Message-ID"].endswith("@larkspur-lune.example>")
    assert message["List-Unsubscribe"] == "<https://shop.example/u/1/>"


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: victim@mail.example", "Hi\nX: y", "Hi\r"])
def test_line_breaks_in_the_subject_are_refused(subject):
    with pytest.raises(HeaderInjectionError):
        message_build(to="a@mail.example", subject=subject, text="t", html="h")


def test_ses_send_reaches_the_endpoint_with_the_configuration_set(outbox):
    raw = message_build(to="a@mail.example", subject="Hello", text="t", html="<p>h</p>")

    message_id = ses_send_raw(raw_message=raw, to="a@mail.example", tags={"kind": "test"})

    assert message_id
    (sent,) = outbox.to("a@mail.example")
    assert sent.subject == "Hello"


def test_unverified_sender_is_a_permanent_error(settings):
    settings.DEFAULT_FROM_EMAIL = "someone@unverified.example"
    raw = message_build(to="a@mail.example", subject="Hello", text="t", html="h")

    with pytest.raises(SesPermanentError, match="MessageRejected"):
        ses_send_raw(raw_message=raw, to="a@mail.example")


def test_unreachable_endpoint_is_a_transient_error(settings):
    settings.SES_ENDPOINT_URL = "http://127.0.0.1:9"
    ses._cached_client.cache_clear()
    raw = message_build(to="a@mail.example", subject="Hello", text="t", html="h")

    with pytest.raises(SesTransientError, match="Could not reach SES"):
        ses_send_raw(raw_message=raw, to="a@mail.example")


def test_task_retries_a_transient_failure_and_drops_a_permanent_one(settings, outbox):
    settings.SES_ENDPOINT_URL = "http://127.0.0.1:9"
    ses._cached_client.cache_clear()
    kwargs = dict(to="a@mail.example", subject="Hello", text="t", html="h", kind="test")

    from celery.exceptions import Retry

    with pytest.raises((Retry, SesTransientError)):
        transactional_email_send_task.apply(kwargs=kwargs, throw=True)

    settings.SES_ENDPOINT_URL = outbox.endpoint
    settings.DEFAULT_FROM_EMAIL = "someone@unverified.example"
    ses._cached_client.cache_clear()
    result = transactional_email_send_task.apply(kwargs=kwargs, throw=True)
    assert result.result is None
    assert outbox.all() == []


def test_an_internationalised_domain_is_sent_in_its_ascii_form(outbox):
    raw = message_build(to="anna@bücher.example", subject="Hello", text="t", html="h")

    assert parse(raw)["To"] == "anna@xn--bcher-kva.example"
    ses_send_raw(raw_message=raw, to="anna@bücher.example")
    assert outbox.to("anna@xn--bcher-kva.example")


def test_display_names_and_long_subjects_are_encoded_and_parse_back(settings):
    raw = message_build(
        to="a@mail.example",
        subject="Ünïcode " * 30,
        text="line one\nline two " + "x" * 200,
        html="<p>" + "é" * 300 + "</p>",
        sender="Zoë Ørsted Jewellery <news@larkspur-lune.example>",
        reply_to="Care Team <care@larkspur-lune.example>",
    )

    message = parse(raw)
    assert message["From"].addresses[0].display_name == "Zoë Ørsted Jewellery"
    assert message["Reply-To"].addresses[0].addr_spec == "care@larkspur-lune.example"
    assert message["Subject"] == "Ünïcode " * 30
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert raw.isascii(), "7-bit safe on the wire"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "line one\nline two " + "x" * 200
    assert not message.defects and not any(part.defects for part in message.iter_parts())


def test_a_lost_answer_is_reported_as_unknown_after_exactly_one_request(ses_endpoint, settings, outbox):
    from mailer.ses import SesOutcomeUnknown
    from tests.faulty_ses import FaultPlan, FaultySes

    plan = FaultPlan(drop_calls={1})
    with FaultySes(ses_endpoint, plan) as faulty:
        settings.SES_ENDPOINT_URL = faulty
        ses._cached_client.cache_clear()
        raw = message_build(to="a@mail.example", subject="Hello", text="t", html="h")
        with pytest.raises(SesOutcomeUnknown):
            ses_send_raw(raw_message=raw, to="a@mail.example")
    settings.SES_ENDPOINT_URL = ses_endpoint
    ses._cached_client.cache_clear()

    assert plan.counts["calls"] == 1, "boto3 must not resend on its own: SES has no idempotency key"
    assert len(outbox.to("a@mail.example")) == 1


def test_the_sending_rate_comes_from_the_ses_account_unless_overridden(settings):
    from django.core.cache import cache

    from mailer.ses import SendRate, ses_max_send_rate, ses_send_rate

    settings.SES_MAX_SEND_RATE = None
    cache.delete("ses:send-rate")
    assert ses_max_send_rate() == 1.0  # what the local SES endpoint reports for its account
    # It does not answer v2 GetAccount (moto), so the rate came from v1 GetSendQuota, and says so
    assert ses_send_rate() == SendRate(1.0, "GetSendQuota")

    settings.SES_MAX_SEND_RATE = 250
    assert ses_max_send_rate() == 250.0
    assert ses_send_rate() == SendRate(250.0, "SES_MAX_SEND_RATE")
