"""The OpenAPI schema's additions: the ``Idempotency-Key`` header on every POST, the error shape on every
operation (401, 403, 429, and 400/404/409/422 where they can happen), and the subscriber's receipt closed."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from .idempotency import HEADER

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
            },
        )
    },
)


class ApiAutoSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Any unique string (a UUID): the first answer is given again for 24 hours instead "
                    "of acting twice. The same key with a different request is refused (422).",
                )
            )
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        extra = {
            "401": "Missing, malformed, unknown or revoked key.",
            "403": "The key lacks the scope.",
            "429": "Too many requests for this key; see Retry-After.",
        }
        if self.method in ("POST", "PUT", "PATCH"):
            extra["400"] = "Bad input; `fields` names each field at fault."
        if "{" in self.path:
            extra["404"] = "No such object."
        for code, description in extra.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code
                )
        return responses


def api_endpoints_only(endpoints):
    """drf-spectacular's preprocessing hook: the schema describes /api/v1/ only, not Wagtail's own admin API
    (which is DRF too, and is neither ours to document nor describable without a request)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


def receipt_closed(result, generator, request, public):
    """Close the receipt a write-only key gets instead of a subscriber (``SubscriberAnswer``, one of the two): open,
    a whole subscriber would match both branches of the ``oneOf``, which a strict client refuses."""
    receipt = result.get("components", {}).get("schemas", {}).get("SubscriberReceipt")
    if receipt is not None:
        receipt["additionalProperties"] = False
    return result
