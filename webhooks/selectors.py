"""Reads for the admin and the API: endpoints with their latest state, an endpoint's deliveries, a delivery's
attempts. Each takes the person reading and checks the same permission as the actions."""

from django.db.models import QuerySet

from subscribers.permissions import actor_require

from .models import DeliveryState, WebhookDelivery, WebhookEndpoint
from .permissions import MANAGE


def webhook_endpoints_list(*, user) -> QuerySet[WebhookEndpoint]:
    actor_require(user, MANAGE, action="see webhook endpoints")
    return WebhookEndpoint.objects.select_related("partner").order_by("name", "pk")


def webhook_endpoint_get(*, user, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint; ``WebhookEndpoint.DoesNotExist`` when there is none."""
    return webhook_endpoints_list(user=user).get(pk=endpoint_id)


def webhook_deliveries_list(
    *, user, endpoint: WebhookEndpoint, state: str | None = None
) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries, newest first, optionally in one state (ValueError for an unknown one)."""
    actor_require(user, MANAGE, action="see webhook deliveries")
    if state and state not in DeliveryState.values:
        raise ValueError(f"Unknown delivery state: {state}")
    rows = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-event_id", "-pk")
    return rows.filter(state=state) if state else rows


def webhook_delivery_get(*, user, delivery_id: int) -> WebhookDelivery:
    """One delivery with its event, endpoint and attempts (newest first, ``delivery.attempt_rows.all()``)."""
    actor_require(user, MANAGE, action="see webhook deliveries")
    return (
        WebhookDelivery.objects.select_related("event", "endpoint")
        .prefetch_related("attempt_rows")
        .get(pk=delivery_id)
    )
