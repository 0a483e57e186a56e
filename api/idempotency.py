"""``Idempotency-Key`` on POST: the first answer is kept for 24 hours and given again, instead of acting twice.

Stripe's semantics (https://docs.stripe.com/api/idempotent_requests), as the IETF draft
"The Idempotency-Key HTTP Header Field" describes them: the key is claimed by inserting a row under a unique
constraint *before* the action runs, so of two concurrent requests with the same key only one acts; the other is
told to retry (409) and then gets the first answer. The same key with another method, path or body is refused
(422): it is a mistake in the caller, not a retry. An answer of 5xx is not kept: nothing was done, so the retry may
act. Replays carry ``Idempotent-Replayed: true``.

An answer holding a secret (a webhook endpoint's signing secret, shown once) is never kept as it is: the view names
the fields to withhold (``idempotency_withhold`` on its response, or ``response_withholding``), and the kept answer
has each replaced by a note that it was shown once. A replay thus says what was done without the secret.
"""

import json

from django.http import HttpResponse
from rest_framework import exceptions, status

from .services import idempotency_claim, idempotency_complete, idempotency_fingerprint, idempotency_release

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
WITHHELD_NOTE = "Shown once, in the first answer, and not kept: a replay does not give it again."


def response_withholding(response, *fields: str):
    """Mark ``response`` so that the answer kept for an Idempotency-Key replay leaves out ``fields`` (secrets)."""
    response.idempotency_withhold = fields
    return response


def _kept_body(response) -> bytes:
    """The body kept for replays: the answer, with the fields its view withholds replaced by a note."""
    fields = getattr(response, "idempotency_withhold", ())
    if not fields:
        return response.content
    data = json.loads(response.content)
    for field in fields:
        if field in data:
            data[field] = WITHHELD_NOTE
    return json.dumps(data).encode()


class IdempotencyKeyInvalid(exceptions.ValidationError):
    pass


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = (
        "This Idempotency-Key was already used with a different request (method, path or body). "
        "Use a new key for a new request."
    )


class IdempotencyInProgress(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_in_progress"
    default_detail = "A request with this Idempotency-Key is still being processed. Retry in a moment."


def _canonical_body(request) -> bytes:
    """The body as compared between a request and its retry: JSON in one spelling (key order and spacing do not
    make another request), anything else as its bytes. Read before DRF parses it; the parser then reads the same
    bytes from Django's copy."""
    raw = request._request.body
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read: the parser refuses it next
        return raw


class _Replay(Exception):
    def __init__(self, record):
        self.record = record


class IdempotencyMixin:
    """For API views: honours ``Idempotency-Key`` on every POST (after authentication, scope and rate checks, so
    a refused request claims nothing)."""

    _idempotency_record = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency_record = None
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None:
            return
        if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise IdempotencyKeyInvalid(
                {HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, such as a UUID."]}
            )
        fingerprint = idempotency_fingerprint(method=request.method, path=request.path, body=_canonical_body(request))
        claim = idempotency_claim(api_key=request.auth, key=key, fingerprint=fingerprint)
        if claim.fresh:
            self._idempotency_record = claim.record
        elif claim.mismatch:
            raise IdempotencyKeyReused()
        elif claim.record.status_code is None:
            raise IdempotencyInProgress()
        else:
            raise _Replay(claim.record)

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            record = exc.record
            body = bytes(record.body or b"")
            response = HttpResponse(body, status=record.status_code, content_type=record.content_type)
            response[REPLAYED_HEADER] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotency_record = self._idempotency_record, None
        if record is not None:
            if response.status_code >= 500:
                idempotency_release(record=record)
            else:
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()
                idempotency_complete(
                    record=record,
                    status_code=response.status_code,
                    body=_kept_body(response),
                    content_type=response.get("Content-Type", "application/json"),
                )
        return response
