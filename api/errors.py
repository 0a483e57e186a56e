"""One JSON shape for every error the API answers:

    {"error": {"code": "invalid", "message": "...", "fields": {"email": ["Enter a valid email address."]}}}

``api_exception_handler`` (DRF's EXCEPTION_HANDLER) maps DRF's own errors, Django's ValidationError,
PermissionDenied and Http404, and the domain errors the services raise. A domain error is looked up in
``DOMAIN_ERRORS`` by its class (the nearest registered base wins), so another module adds its own with
``domain_error_register`` instead of editing this one.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from campaigns.errors import CampaignError, CampaignForbidden
from subscribers.errors import ActionForbidden, FormFieldError, SubscribersError
from subscribers.services.attributes import AttributeValuesSuppressed
from subscribers.services.errors import (
    AccessExportError,
    ExplicitRequestRequired,
    SubscriptionError,
    SuppressedAddressError,
)

from .services import ApiKeyError

logger = logging.getLogger(__name__)

# class -> (HTTP status, error code). Looked up along the exception's MRO, so the most specific entry wins.
DOMAIN_ERRORS: dict[type[BaseException], tuple[int, str]] = {
    ActionForbidden: (status.HTTP_403_FORBIDDEN, "permission_denied"),
    CampaignForbidden: (status.HTTP_403_FORBIDDEN, "permission_denied"),
    SuppressedAddressError: (status.HTTP_409_CONFLICT, "suppressed"),
    AttributeValuesSuppressed: (status.HTTP_409_CONFLICT, "suppressed"),
    ExplicitRequestRequired: (status.HTTP_409_CONFLICT, "explicit_request_required"),
    AccessExportError: (status.HTTP_409_CONFLICT, "access_export_refused"),
    SubscriptionError: (status.HTTP_409_CONFLICT, "conflict"),
    # A refusal naming a field (a first name breaking its rule): bad input.
    FormFieldError: (status.HTTP_400_BAD_REQUEST, "invalid"),
    ApiKeyError: (status.HTTP_400_BAD_REQUEST, "invalid"),
    SubscribersError: (status.HTTP_409_CONFLICT, "conflict"),
    CampaignError: (status.HTTP_409_CONFLICT, "conflict"),
}


def domain_error_register(error_class: type[BaseException], *, status_code: int, code: str) -> None:
    """Answer ``error_class`` (and its subclasses not registered themselves) with this status and code."""
    DOMAIN_ERRORS[error_class] = (status_code, code)


def error_body(*, code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field.sub.0": ["message", ...]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        out = {}
        for index, item in enumerate(detail):
            if item:
                out.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(item) for item in items]}


def _invalid_message(fields: dict[str, list[str]]) -> str:
    general = fields.pop("non_field_errors", None)
    if general:
        return " ".join(general)
    if len(fields) == 1:
        name, messages = next(iter(fields.items()))
        return f"{name}: {' '.join(messages)}"
    return "Some fields are not valid: " + ", ".join(fields) + "."


def _domain_entry(exc) -> tuple[int, str] | None:
    for klass in type(exc).__mro__:
        if klass in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[klass]
    return None


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error, in the one shape, keeping DRF's headers (WWW-Authenticate,
    Retry-After, Allow)."""
    entry = _domain_entry(exc)
    if entry is not None:
        status_code, code = entry
        field = getattr(exc, "field", None)
        # An error about several fields at once (attribute values) lists each; otherwise the one it names.
        fields = getattr(exc, "fields", None) or ({field: [str(exc)]} if field else {})
        set_rollback()
        return Response(error_body(code=code, message=str(exc), fields=fields), status=status_code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        fields = {key: list(value) for key, value in fields.items()}
        set_rollback()
        return Response(
            error_body(code="invalid", message=_invalid_message(dict(fields)), fields=fields),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404 | DjangoPermissionDenied | exceptions.APIException):
        response = exception_handler(exc, context)  # DRF's: turns Http404 and PermissionDenied into its own
        if isinstance(exc, Http404):
            code, message = "not_found", "Not found."
        elif isinstance(exc, DjangoPermissionDenied):
            code, message = "permission_denied", str(exc) or "You do not have permission to do this."
        elif isinstance(exc, exceptions.ValidationError):
            fields = _flatten(exc.detail)
            response.data = error_body(code="invalid", message=_invalid_message(dict(fields)), fields=fields)
            return response
        else:
            code = exc.default_code if isinstance(exc.detail, list | dict) else getattr(exc.detail, "code", None)
            code, message = code or exc.default_code, _message(exc.detail)
        response.data = error_body(code=code, message=message)
        return response
    logger.exception("Unhandled error in the API", exc_info=exc)
    set_rollback()
    return Response(
        error_body(code="server_error", message="Something went wrong on our side; nothing is known to have changed."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _message(detail) -> str:
    if isinstance(detail, dict):
        return " ".join(_message(value) for value in detail.values())
    if isinstance(detail, list):
        return " ".join(_message(value) for value in detail)
    return str(detail)


def not_found(request, *args, **kwargs):
    """Any path under /api/v1/ that names no endpoint: a 404 in the API's shape, not the site's HTML page."""
    return JsonResponse(error_body(code="not_found", message="No endpoint at this path."), status=404)
