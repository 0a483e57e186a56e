"""The local SES-compatible endpoint (moto's server mode) used by the demo and the test suite.

Production never imports this module. boto3 talks to this endpoint over HTTP exactly as it talks to AWS.
"""

import email
import email.parser
import email.policy
import email.utils
import json
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr

import boto3

# What an operator's configuration set publishes to SNS (docs/feedback.md), in the v1 API's spelling.
LOCAL_EVENT_TYPES = ["send", "delivery", "bounce", "complaint", "reject", "renderingFailure", "deliveryDelay"]


def local_ses_prepare(*, endpoint_url: str, region: str, sender: str, configuration_set: str | None) -> None:
    """Verify the sender's domain, create the configuration set and give it an SNS event destination, as an
    operator does once in AWS. Safe to run again: what exists is left as it is."""
    credentials = {
        "region_name": region,
        "endpoint_url": endpoint_url,
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    client = boto3.client("sesv2", **credentials)
    domain = parseaddr(sender)[1].rpartition("@")[2]
    client.create_email_identity(EmailIdentity=domain)
    if not configuration_set:
        return
    existing = {c for c in client.list_configuration_sets().get("ConfigurationSets", [])}
    if configuration_set not in existing:
        client.create_configuration_set(ConfigurationSetName=configuration_set)
    # Event destinations through the v1 API: the local endpoint does not answer v2's event-destination calls.
    ses_v1 = boto3.client("ses", **credentials)
    described = ses_v1.describe_configuration_set(
        ConfigurationSetName=configuration_set, ConfigurationSetAttributeNames=["eventDestinations"]
    )
    if any(isinstance(d, dict) for d in described.get("EventDestinations") or []):
        return  # the endpoint refuses a second destination of the same name
    topic_arn = boto3.client("sns", **credentials).create_topic(Name=f"{configuration_set}-events")["TopicArn"]
    ses_v1.create_configuration_set_event_destination(
        ConfigurationSetName=configuration_set,
        EventDestination={
            "Name": f"{configuration_set}-sns",  # names are unique per account here
            "Enabled": True,
            "MatchingEventTypes": LOCAL_EVENT_TYPES,
            "SNSDestination": {"TopicARN": topic_arn},
        },
    )


@dataclass(frozen=True)
class OutboxEntry:
    """One message the local endpoint accepted, as it lists it: its raw MIME, not parsed yet."""

    message_id: str
    to: list[str]
    raw: str


@dataclass(frozen=True)
class OutboxSummary:
    """What a list of messages shows: read from the headers only, the body left unparsed."""

    message_id: str
    to: list[str]
    sender: str
    subject: str
    date: datetime | None


@dataclass
class OutboxMessage:
    """One message the local endpoint accepted, parsed back from its raw MIME."""

    message_id: str
    to: list[str]
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    raw: str


def _part(message, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""


def local_outbox_entries(*, endpoint_url: str) -> list[OutboxEntry]:
    """Every raw message the local SES endpoint has accepted, oldest first, without parsing any of them.

    The endpoint has one way to read them back, its data dump of everything it holds (no paging, no filter): reading
    it takes about half a second for 3,000 campaign emails; parsing all of them would take twenty times that."""
    with urllib.request.urlopen(f"{endpoint_url}/moto-api/data.json", timeout=10) as response:  # noqa: S310
        data = json.load(response)
    return [
        OutboxEntry(message_id=item["id"], to=sorted(set(item["destinations"])), raw=item["raw_data"])
        for item in data.get("ses", {}).get("RawMessage", [])
    ]


def local_outbox_search(*, endpoint_url: str, recipient: str = "") -> list[OutboxEntry]:
    """The messages to a recipient whose address contains ``recipient`` (any case; all when empty), newest first."""
    needle = recipient.strip().lower()
    entries = reversed(local_outbox_entries(endpoint_url=endpoint_url))
    return [entry for entry in entries if not needle or any(needle in address.lower() for address in entry.to)]


def outbox_summary(entry: OutboxEntry) -> OutboxSummary:
    """The sender, subject and date of ``entry``, from its headers alone."""
    headers = email.parser.Parser(policy=email.policy.default).parsestr(entry.raw, headersonly=True)
    try:
        date = email.utils.parsedate_to_datetime(str(headers["Date"])) if headers["Date"] else None
    except (TypeError, ValueError):
        date = None
    return OutboxSummary(
        message_id=entry.message_id,
        to=entry.to,
        sender=str(headers["From"] or ""),
        subject=str(headers["Subject"] or ""),
        date=date,
    )


def outbox_message(entry: OutboxEntry) -> OutboxMessage:
    """``entry`` parsed whole: headers, and the text and HTML parts decoded."""
    parsed = email.message_from_string(entry.raw, policy=email.policy.default)
    return OutboxMessage(
        message_id=entry.message_id,
        to=entry.to,
        subject=str(parsed["Subject"] or ""),
        text=_part(parsed, "plain"),
        html=_part(parsed, "html"),
        headers={k: str(v) for k, v in parsed.items()},
        raw=entry.raw,
    )


def local_outbox(*, endpoint_url: str) -> list[OutboxMessage]:
    """Every message the local SES endpoint has accepted, oldest first, each parsed whole (the tests read mail so)."""
    return [outbox_message(entry) for entry in local_outbox_entries(endpoint_url=endpoint_url)]
