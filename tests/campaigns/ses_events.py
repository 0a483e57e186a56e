"""SES event payloads as SES publishes them to SNS, for tests.

The shapes follow the examples in the SES developer guide, "Examples of event data that Amazon SES publishes
to Amazon SNS": https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-examples.html
(event publishing, ``eventType``), and "Amazon SNS notification examples for Amazon SES":
https://docs.aws.amazon.com/ses/latest/dg/notification-examples.html (identity notifications,
``notificationType``). Values are ours; field names and nesting are SES's.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

TOPIC_ARN = "arn:aws:sns:eu-west-2:123456789012:ses-feedback"
# Events happen a few minutes before the tests run, never on a fixed date: the reputation guard counts only
# complaints and bounces inside its rolling window, so a fixed date would fall out of it as the calendar moves.
SENT_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def at(seconds: int) -> str:
    """The time ``seconds`` after the sample message was sent, as SES writes it."""
    return (SENT_AT + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def mail(*, message_id: str, to: list[str], delivery_id: int | None = None, send_id: int | None = None) -> dict:
    tags = {
        "ses:configuration-set": ["newsletter"],
        "ses:source-ip": ["192.0.2.10"],
        "ses:from-domain": ["larkspur-lune.example"],
        "ses:caller-identity": ["newsletter-sender"],
    }
    if delivery_id is not None:
        tags["delivery"] = [str(delivery_id)]
    if send_id is not None:
        tags["send"] = [str(send_id)]
    return {
        "timestamp": at(0),
        "source": "Larkspur & Lune <hello@larkspur-lune.example>",
        "sourceArn": "arn:aws:ses:eu-west-2:123456789012:identity/larkspur-lune.example",
        "sendingAccountId": "123456789012",
        "messageId": message_id,
        "destination": to,
        "headersTruncated": False,
        "tags": tags,
    }


def bounce(*, mail: dict, bounce_type: str, sub_type: str, recipients: list[dict]) -> dict:
    return {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": recipients,
            "timestamp": at(2),
            "feedbackId": f"0102017{uuid.uuid4().hex}-000000",
            "reportingMTA": "dsn; mta.mail.example",
        },
        "mail": mail,
    }


def bounced_recipient(email: str, *, status: str = "5.1.1", action: str = "failed") -> dict:
    return {
        "emailAddress": email,
        "action": action,
        "status": status,
        "diagnosticCode": f"smtp; {status.replace('.', '')[:3]} {status} mailbox problem",
    }


def complaint(*, mail: dict, recipients: list[str], feedback_type: str | None = None) -> dict:
    body = {
        "complainedRecipients": [{"emailAddress": e} for e in recipients],
        "timestamp": at(300),
        "feedbackId": f"0102017{uuid.uuid4().hex}-000000",
        "userAgent": "Mail provider feedback loop",
        "arrivalDate": at(298),
    }
    if feedback_type:
        body["complaintFeedbackType"] = feedback_type
    return {"eventType": "Complaint", "complaint": body, "mail": mail}


def delivery(*, mail: dict) -> dict:
    return {
        "eventType": "Delivery",
        "delivery": {
            "timestamp": at(3),
            "processingTimeMillis": 1200,
            "recipients": mail["destination"],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        },
        "mail": mail,
    }


def send_event(*, mail: dict) -> dict:
    return {"eventType": "Send", "send": {}, "mail": mail}


def reject(*, mail: dict) -> dict:
    return {"eventType": "Reject", "reject": {"reason": "Bad content"}, "mail": mail}


def as_identity_notification(event: dict) -> dict:
    """The same SES event as an identity notification carries it (``notificationType``)."""
    event = dict(event)
    event["notificationType"] = event.pop("eventType")
    return event


def sns_notification(event: dict, *, message_id: str | None = None) -> dict:
    """The SNS envelope of a Notification, as the hook's verifier returns it (signature fields omitted)."""
    return {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": TOPIC_ARN,
        "Message": json.dumps(event),
        "Timestamp": at(4),
    }


def hard_bounce_of(row) -> dict:
    """A permanent bounce of the message one ledger row sent (its recipient, message id and tags)."""
    email = row.subscriber.email
    return bounce(
        mail=mail(message_id=row.ses_message_id, to=[email], delivery_id=row.pk, send_id=row.send_id),
        bounce_type="Permanent",
        sub_type="General",
        recipients=[bounced_recipient(email)],
    )
