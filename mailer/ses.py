"""The one place that talks to Amazon SES (API v2).

Endpoint, region and configuration set come from settings. In the demo and the tests the endpoint is a
local SES-compatible server, so this exact code path is exercised everywhere. SendEmail, made once per message,
goes through ``ses_http`` (the same request, signed and sent without boto3's per-call overhead); every other
call goes through boto3.
"""

import functools
import logging
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from mailer.errors import MailerError

from .addresses import address_for_transport
from .ses_http import ErrorAnswer, NoAnswer, NotSent, SendEmailClient

logger = logging.getLogger(__name__)

# Error codes SES v2 returns for conditions that pass with time; everything else from SES is permanent.
# https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#API_SendEmail_Errors
TRANSIENT_ERROR_CODES = {
    "TooManyRequestsException",
    "Throttling",
    "ThrottlingException",
    "LimitExceededException",
    "ServiceUnavailable",
    "InternalFailure",
    "SendingPausedException",
}


class SesError(MailerError):
    """SES did not accept a message."""

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.code = code


class SesTransientError(SesError):
    """Worth trying again later: throttling, quota, 5xx, network trouble."""


class SesPermanentError(SesError):
    """Trying again will not help: rejected message, unverified sender, bad address."""


class SesOutcomeUnknown(SesTransientError):
    """The request reached SES but no answer came back: SES may or may not have accepted the message."""


def _client_kwargs() -> dict:
    kwargs = {
        "region_name": settings.SES_REGION,
        # Retries are ours (Celery, with backoff), so a failure is seen and classified once.
        "config": Config(
            connect_timeout=settings.SES_CONNECT_TIMEOUT,
            read_timeout=settings.SES_READ_TIMEOUT,
            # One attempt in all. (botocore's "max_attempts" counts retries after the first, so 1 would still
            # resend once: after a lost answer that is a duplicate email. "total_max_attempts" is the total.)
            retries={"total_max_attempts": 1, "mode": "standard"},
            # The parameters are built here, never from user input; checking them against the service model
            # on every call cost about 5% of a send's CPU.
            parameter_validation=False,
        ),
    }
    if settings.SES_ENDPOINT_URL:
        kwargs["endpoint_url"] = settings.SES_ENDPOINT_URL
        # A local endpoint accepts any credentials; real ones are never needed or sent there.
        kwargs.setdefault("aws_access_key_id", "local")
        kwargs.setdefault("aws_secret_access_key", "local")
    return kwargs


@functools.cache
def _cached_client(service: str, endpoint: str | None, region: str):
    return boto3.client(service, **_client_kwargs())


def ses_client(service: str = "sesv2"):
    """A boto3 client, one per process and configuration (boto3 clients are thread-safe)."""
    return _cached_client(service, settings.SES_ENDPOINT_URL, settings.SES_REGION)


@functools.cache
def _send_email_client_for(client) -> SendEmailClient:
    kwargs = _client_kwargs()
    if "aws_access_key_id" in kwargs:
        credentials = Credentials(kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"])
    else:
        credentials = boto3.session.Session().get_credentials()
    return SendEmailClient(
        client,
        credentials=credentials,
        connect_timeout=settings.SES_CONNECT_TIMEOUT,
        read_timeout=settings.SES_READ_TIMEOUT,
    )


def ses_send_email_client() -> SendEmailClient:
    """The SendEmail sender for the current boto3 client (a new client, as after a settings change, gets a new
    one)."""
    return _send_email_client_for(ses_client())


def ses_send_raw(*, raw_message: bytes, to: str, tags: dict[str, str] | None = None, sender: str | None = None) -> str:
    """Send one complete MIME message to one recipient. Returns the SES message id.

    Raises SesTransientError or SesPermanentError, never a library exception.
    """
    params = {
        "FromEmailAddress": sender or settings.DEFAULT_FROM_EMAIL,
        "Destination": {"ToAddresses": [address_for_transport(to)]},
        "Content": {"Raw": {"Data": raw_message}},
        "EmailTags": [{"Name": k, "Value": v} for k, v in (tags or {}).items()],
    }
    if settings.SES_CONFIGURATION_SET:
        params["ConfigurationSetName"] = settings.SES_CONFIGURATION_SET
    try:
        return ses_send_email_client().send_email(params)
    except ErrorAnswer as err:
        code, status = err.code, err.status
        if code in TRANSIENT_ERROR_CODES or status == 429 or status >= 500:
            raise SesTransientError(f"SES is busy or unavailable ({code or status}): {err.message}", code=code) from err
        raise SesPermanentError(f"SES rejected the message ({code}): {err.message}", code=code) from err
    except NoAnswer as err:
        # Sent, then no answer: retrying could deliver twice (SES has no idempotency key).
        raise SesOutcomeUnknown(f"No answer from SES after sending: {err}", code="NoAnswer") from err
    except NotSent as err:
        raise SesTransientError(f"Could not reach SES: {err}", code="NotSent") from err


def ses_configuration_problems() -> list[str]:
    """What is missing from the SES configuration, in words; empty when complete."""
    problems = []
    if not settings.SES_REGION:
        problems.append("SES_REGION is not set")
    if not settings.DEFAULT_FROM_EMAIL:
        problems.append("DEFAULT_FROM_EMAIL is not set")
    if not settings.SES_CONFIGURATION_SET:
        problems.append("SES_CONFIGURATION_SET is not set")
    return problems


@dataclass(frozen=True)
class SendRate:
    """The messages per second every sender shares, and where that number came from."""

    per_second: float
    source: str  # "SES_MAX_SEND_RATE" (the setting), "GetAccount" or "GetSendQuota" (the SES call that gave it)


def ses_send_rate() -> SendRate:
    """The rate the senders use: SES_MAX_SEND_RATE when set, else the account's MaxSendRate from SES v2 GetAccount
    (or v1 GetSendQuota where GetAccount is not answered), cached for five minutes. The health check reports this,
    so what it shows is what the workers send at."""
    if settings.SES_MAX_SEND_RATE:
        return SendRate(float(settings.SES_MAX_SEND_RATE), "SES_MAX_SEND_RATE")
    from django.core.cache import cache

    cached = cache.get("ses:send-rate")
    if cached is None:
        try:
            cached = (float(ses_client().get_account()["SendQuota"]["MaxSendRate"]), "GetAccount")
        except (ClientError, BotoCoreError, KeyError):
            cached = (float(ses_send_quota()["MaxSendRate"]), "GetSendQuota")
        cache.set("ses:send-rate", cached, 300)
    return SendRate(*cached)


def ses_max_send_rate() -> float:
    """Messages per second the account may send (``ses_send_rate``), for the rate limiter."""
    return ses_send_rate().per_second


def ses_send_quota() -> dict:
    """The account's sending quota (SES v1 GetSendQuota, answered by SES and by the local endpoint)."""
    try:
        quota = ses_client("ses").get_send_quota()
    except (ClientError, BotoCoreError) as err:
        raise SesTransientError(f"Could not read the SES sending quota: {err}") from err
    return {k: quota[k] for k in ("Max24HourSend", "MaxSendRate", "SentLast24Hours")}


def ses_suppressed_destinations() -> list[dict]:
    """Every address on the SES account-level suppression list: [{"email", "reason"}] with reason BOUNCE or
    COMPLAINT, read page by page (SES v2 ListSuppressedDestinations)."""
    found, token = [], None
    try:
        while True:
            page = ses_client().list_suppressed_destinations(**({"NextToken": token} if token else {}))
            found += [
                {"email": item["EmailAddress"], "reason": item["Reason"]}
                for item in page.get("SuppressedDestinationSummaries", [])
            ]
            token = page.get("NextToken")
            if not token:
                return found
    except (ClientError, BotoCoreError) as err:
        raise SesTransientError(f"Could not read the SES suppression list: {err}") from err


def ses_suppressed_destination_put(*, email: str, reason: str) -> None:
    """Add an address to the SES account-level suppression list (reason BOUNCE or COMPLAINT)."""
    try:
        ses_client().put_suppressed_destination(EmailAddress=address_for_transport(email), Reason=reason)
    except (ClientError, BotoCoreError) as err:
        raise SesTransientError(f"Could not add an address to the SES suppression list: {err}") from err


# How long an answer about the configuration set's event destinations is kept: long when Send events are
# published (the health check and every send page ask), short when they are not, so that a fix shows soon.
SEND_EVENTS_CACHE_SECONDS = 300
SEND_EVENTS_PROBLEM_CACHE_SECONDS = 60


def ses_send_events_problem() -> str:
    """Why SES would not tell us about the messages it accepts, in words; empty when the configuration set
    SES_CONFIGURATION_SET has an enabled event destination publishing Send events to an SNS topic (one on
    SES_SNS_TOPIC_ARNS, when that is set).

    Send events, carrying our ``delivery`` tag, are what settle a row in doubt (an answer lost, a worker lost
    mid-call) as sent; without them such rows stay ``unknown``. Asks SES v1 DescribeConfigurationSet: SES answers
    the v1 and v2 APIs alike, and the local endpoint answers only v1 for event destinations. The answer is cached in
    Redis. Raises SesTransientError when SES does not answer (or refuses the call), never a library exception.
    https://docs.aws.amazon.com/ses/latest/APIReference/API_DescribeConfigurationSet.html
    """
    from django.core.cache import cache

    name = settings.SES_CONFIGURATION_SET
    if not name:
        return "SES_CONFIGURATION_SET is not set, so SES publishes no events about the messages it sends."
    key = f"ses:send-events:{name}"
    problem = cache.get(key)
    if problem is not None:
        return problem
    try:
        answer = ses_client("ses").describe_configuration_set(
            ConfigurationSetName=name, ConfigurationSetAttributeNames=["eventDestinations"]
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ConfigurationSetDoesNotExist":
            raise SesTransientError(
                f"Could not read the event destinations of configuration set {name}: {err}"
            ) from err
        problem = f"The configuration set {name} does not exist in SES (region {settings.SES_REGION})."
    except BotoCoreError as err:
        raise SesTransientError(f"Could not read the event destinations of configuration set {name}: {err}") from err
    else:
        problem = _send_events_problem(name=name, destinations=answer.get("EventDestinations") or [])
    cache.set(key, problem, SEND_EVENTS_PROBLEM_CACHE_SECONDS if problem else SEND_EVENTS_CACHE_SECONDS)
    return problem


def _send_events_problem(*, name: str, destinations: list) -> str:
    # The local endpoint answers [None] for a set without destinations; SES answers an empty list.
    destinations = [d for d in destinations if isinstance(d, dict)]
    # MatchingEventTypes are lower camel case in v1 ("send", "renderingFailure"), upper case in v2 ("SEND").
    publishing = [
        d
        for d in destinations
        if d.get("Enabled") and "send" in {str(t).lower() for t in d.get("MatchingEventTypes") or []}
    ]
    if not publishing:
        return f"The configuration set {name} has no enabled event destination for Send events."
    topics = {(d.get("SNSDestination") or {}).get("TopicARN") for d in publishing} - {None, ""}
    if not topics:
        # CloudWatch or Kinesis Firehose destinations do not reach /hooks/ses/.
        return f"The configuration set {name} publishes Send events, but not to an SNS topic."
    allowed = set(settings.SES_SNS_TOPIC_ARNS)
    if allowed and not topics & allowed:
        # The topic's ARN is not named: this text is shown on /healthz/, and an ARN names the AWS account.
        return (
            f"The configuration set {name} publishes Send events to an SNS topic that is not on SES_SNS_TOPIC_ARNS, "
            "so /hooks/ses/ refuses them."
        )
    return ""
