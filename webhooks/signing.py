"""Signatures as the Standard Webhooks specification says (https://www.standardwebhooks.com/), made with its
reference library, so any receiver can verify with an off-the-shelf one.

Each request carries ``webhook-id`` (the event's ``msg_...`` id, the same on every retry, so a receiver can drop a
repeat), ``webhook-timestamp`` (the attempt's time in Unix seconds; receivers refuse one more than five minutes off)
and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. During a secret rotation the previous
secret signs as well, the signatures separated by a space, so a receiver holding either secret verifies.
"""

import base64
import json
import os
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's marker, not a secret
SECRET_BYTES = 32  # 256 bits; the spec asks for between 24 and 64 bytes


def webhook_secret_new() -> str:
    """A new random secret in the spec's form: ``whsec_`` and the base64 of its bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode("ascii")


def webhook_body(*, type: str, occurred_at: datetime, data: dict) -> bytes:
    """The request body: ``{"type", "timestamp", "data"}`` as compact JSON, in UTF-8."""
    document = {"type": type, "timestamp": occurred_at.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def webhook_headers(*, message_id: str, timestamp: datetime, body: bytes, secrets: list[str]) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with each of ``secrets`` (the current one first)."""
    signatures = " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
