"""Outgoing webhook endpoints and their deliveries (``webhooks:manage``): the admin's Settings > Webhooks, for systems.

HTTP only: every change goes through ``webhooks.services`` and every read through ``webhooks.selectors``, which check
``webhooks.manage_webhooks`` for the key's service user and write the audit log with it as the actor. A secret is
in the answer to a create and to a rotation, and never again.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from subscribers.models import Partner
from webhooks import selectors, services
from webhooks.errors import WebhookError
from webhooks.models import EVENT_TYPES, DeliveryState, WebhookDelivery, WebhookEndpoint

from ..errors import error_body
from ..idempotency import response_withholding
from ..scopes import Scope
from .base import ApiGenericView


class EndpointSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "name",
            "url",
            "events",
            "enabled",
            "is_partner",
            "partner",
            "include_personal_data",
            "created_at",
            "last_success_at",
            "failing_since",
            "disabled_reason",
            "previous_secret_expires_at",
        ]


class EndpointWithSecretSerializer(EndpointSerializer):
    """An endpoint as created or just rotated: with its new secret, shown this once."""

    secret = serializers.CharField(read_only=True)

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class EndpointWriteSerializer(serializers.Serializer):
    """Shape only; the services check the URL (scheme, private addresses), the events and the partner rules."""

    name = serializers.CharField(max_length=150)
    url = serializers.CharField(max_length=500)
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(EVENT_TYPES)), allow_empty=False)
    enabled = serializers.BooleanField(default=True)
    is_partner = serializers.BooleanField(default=False)
    partner = serializers.SlugRelatedField(
        slug_field="name", queryset=Partner.objects.filter(is_active=True), required=False, allow_null=True
    )
    include_personal_data = serializers.BooleanField(default=False)


class RotateSerializer(serializers.Serializer):
    previous_valid_hours = serializers.FloatField(
        required=False, min_value=0, help_text="How long the previous secret goes on signing too (default 24)."
    )


class AttemptSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    response_excerpt = serializers.CharField()
    duration_ms = serializers.IntegerField()


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.message_id")
    event_type = serializers.CharField(source="event.type")
    occurred_at = serializers.DateTimeField(source="event.occurred_at")
    endpoint = serializers.IntegerField(source="endpoint_id")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "occurred_at",
            "state",
            "reason",
            "attempts",
            "next_attempt_at",
            "last_status",
            "finished_at",
        ]


class DeliveryDetailSerializer(DeliverySerializer):
    attempts_made = AttemptSerializer(source="attempt_rows", many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "attempts_made"]


class WebhooksView(ApiGenericView):
    required_scope = Scope.WEBHOOKS_MANAGE

    def endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        return get_object_or_404(selectors.webhook_endpoints_list(user=self.actor()), pk=endpoint_id)


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> dict:
    endpoint.secret = secret
    return EndpointWithSecretSerializer(endpoint).data


class EndpointListView(WebhooksView):
    """Every endpoint; POST adds one and answers with its secret, which is never shown again."""

    serializer_class = EndpointSerializer

    @extend_schema(operation_id="webhook_endpoints_list", responses=EndpointSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.webhook_endpoints_list(user=self.actor()))
        return self.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(request=EndpointWriteSerializer, responses={201: EndpointWithSecretSerializer})
    def post(self, request):
        body = EndpointWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_create(user=self.actor(), **body.validated_data)
        # The secret is in this answer only: an Idempotency-Key replay gives the answer without it.
        return response_withholding(Response(_with_secret(endpoint, secret), status=status.HTTP_201_CREATED), "secret")


class EndpointDetailView(WebhooksView):
    """One endpoint: read, change what is given (PATCH), delete it with its deliveries."""

    serializer_class = EndpointSerializer

    def get(self, request, endpoint_id: int):
        return Response(EndpointSerializer(self.endpoint(endpoint_id)).data)

    @extend_schema(request=EndpointWriteSerializer(partial=True), responses=EndpointSerializer)
    def patch(self, request, endpoint_id: int):
        endpoint = self.endpoint(endpoint_id)
        body = EndpointWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        # Only what the caller sent: defaults of absent fields must not overwrite what is stored.
        given = {name: value for name, value in body.validated_data.items() if name in request.data}
        endpoint = services.webhook_endpoint_update(user=self.actor(), endpoint=endpoint, **given)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, endpoint_id: int):
        services.webhook_endpoint_delete(user=self.actor(), endpoint=self.endpoint(endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateView(WebhooksView):
    """A new secret, in the answer only; the previous one signs too until ``previous_secret_expires_at``."""

    serializer_class = RotateSerializer

    @extend_schema(request=RotateSerializer, responses=EndpointWithSecretSerializer)
    def post(self, request, endpoint_id: int):
        endpoint = self.endpoint(endpoint_id)
        body = RotateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_secret_rotate(
            user=self.actor(), endpoint=endpoint, previous_valid_hours=body.validated_data.get("previous_valid_hours")
        )
        return response_withholding(Response(_with_secret(endpoint, secret)), "secret")


STATE_FILTER = OpenApiParameter(
    "state", str, enum=list(DeliveryState.values), description="Only deliveries in this state."
)


class EndpointDeliveriesView(WebhooksView):
    """An endpoint's deliveries, newest event first, cursor paged."""

    serializer_class = DeliverySerializer

    @extend_schema(
        operation_id="webhook_deliveries_list", parameters=[STATE_FILTER], responses=DeliverySerializer(many=True)
    )
    def get(self, request, endpoint_id: int):
        endpoint = self.endpoint(endpoint_id)
        state = request.query_params.get("state") or None
        try:
            rows = selectors.webhook_deliveries_list(user=self.actor(), endpoint=endpoint, state=state)
        except ValueError as err:
            raise serializers.ValidationError(
                {"state": [f"{err}. The states are: {', '.join(DeliveryState.values)}."]}
            ) from err
        # Newest event first: one delivery per event and endpoint, so the event's id is unique here and indexed.
        self.paginator.ordering = "-event_id"
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryDetailView(WebhooksView):
    """One delivery with every attempt and what the receiver answered."""

    serializer_class = DeliveryDetailSerializer

    def _delivery(self, delivery_id: int) -> WebhookDelivery:
        try:
            return selectors.webhook_delivery_get(user=self.actor(), delivery_id=delivery_id)
        except WebhookDelivery.DoesNotExist as err:
            raise Http404 from err

    def get(self, request, delivery_id: int):
        return Response(DeliveryDetailSerializer(self._delivery(delivery_id)).data)


class DeliveryResendView(DeliveryDetailView):
    """One more attempt now, for a delivery that succeeded or failed (409 for one pending or skipped, or when its
    endpoint is disabled). It keeps its ``webhook-id``."""

    @extend_schema(request=None, responses={202: DeliveryDetailSerializer})
    def post(self, request, delivery_id: int):
        try:
            delivery = services.webhook_delivery_resend(user=self.actor(), delivery=self._delivery(delivery_id))
        except WebhookError as err:  # a refusal because of the delivery's or endpoint's state, not bad input
            return Response(error_body(code="delivery_state", message=str(err)), status=status.HTTP_409_CONFLICT)
        delivery = selectors.webhook_delivery_get(user=self.actor(), delivery_id=delivery.pk)
        return Response(DeliveryDetailSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
