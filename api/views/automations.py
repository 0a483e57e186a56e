"""Events that start automations (``automations:trigger``): ``POST /api/v1/automations/events/``.

HTTP only: the subscriber is found by public id or address, and ``api_event_enter`` enters them in every active
automation whose trigger is that event (it checks the key's permission). Entering sends nothing by itself: each email
step checks consent again when it is taken.
"""

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from automations.models import EVENT_NAME_RULE
from automations.services import api_event_enter
from subscribers.models import Subscriber
from subscribers.selectors import subscriber_by_email

from ..errors import error_body
from ..schema import ErrorSerializer
from ..scopes import Scope
from .base import ApiView


class AutomationEventSerializer(serializers.Serializer):
    event = serializers.CharField(max_length=100, validators=[EVENT_NAME_RULE], help_text="The event's name.")
    subscriber = serializers.CharField(
        max_length=254, help_text="The subscriber's public id, or their email address."
    )
    key = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Optional: this occurrence of the event (an order number). A person enters each automation once "
        "per key; without a key, once.",
    )


class AutomationEventOutcomeSerializer(serializers.Serializer):
    event = serializers.CharField()
    entered = serializers.ListField(
        child=serializers.IntegerField(), help_text="The automations the subscriber entered now (ids)."
    )


def _subscriber(value: str) -> Subscriber | None:
    try:
        return Subscriber.objects.filter(public_id=uuid.UUID(value)).first()
    except ValueError:
        return subscriber_by_email(email=value) if "@" in value else None


class AutomationEventView(ApiView):
    """Start the automations triggered by an event, for one subscriber."""

    required_scope = Scope.AUTOMATIONS_TRIGGER

    @extend_schema(
        operation_id="automations_event",
        request=AutomationEventSerializer,
        responses={
            202: AutomationEventOutcomeSerializer,
            404: OpenApiResponse(ErrorSerializer, description="No such subscriber."),
        },
    )
    def post(self, request):
        serializer = AutomationEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscriber = _subscriber(data["subscriber"])
        if subscriber is None:
            return Response(
                error_body(code="not_found", message="No subscriber with that public id or address."),
                status=status.HTTP_404_NOT_FOUND,
            )
        runs = api_event_enter(
            event=data["event"], subscriber=subscriber, occurrence=data.get("key", ""), actor=self.actor()
        )
        return Response(
            {"event": data["event"], "entered": [run.automation_id for run in runs]}, status=status.HTTP_202_ACCEPTED
        )
