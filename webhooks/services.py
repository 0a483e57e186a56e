"""Staff actions on webhooks: every change to an endpoint and "Send again". The admin calls these, and so will the
API. Each is keyword-only, takes the person acting (``user``; None for the platform itself), checks
``webhooks.manage_webhooks``, validates everything before changing anything (a ``WebhookError`` names the field),
and writes the audit log in the transaction of its change.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from subscribers.models import Partner
from subscribers.permissions import actor_require

from .addresses import webhook_url_check
from .audit import WEBHOOK_LOG
from .errors import WebhookError
from .models import EVENT_TYPES, DeliveryState, WebhookDelivery, WebhookEndpoint
from .permissions import MANAGE
from .publishing import webhook_deliveries_wake
from .signing import webhook_secret_new

# Personal data in payloads is every person's address and name sent to a URL the actor chose: no more than they may
# read themselves, so turning it on needs this too (the API's subscribers:read scope grants it).
PERSONAL_DATA_PERMISSION = "subscribers.view_subscriber"

NAME_MAX = 150
URL_MAX = 500
# What the audit log keeps of an endpoint (never its secret).
LOGGED_FIELDS = ("name", "url", "events", "enabled", "is_partner", "include_personal_data")


class _Unset:
    def __repr__(self):
        return "unchanged"


UNSET = _Unset()


def _name_clean(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise WebhookError("Give the endpoint a name, such as the system it belongs to.", field="name")
    if len(name) > NAME_MAX:
        raise WebhookError(f"The name is {len(name)} characters long; at most {NAME_MAX}.", field="name")
    return name


def _url_clean(url: str) -> str:
    url = (url or "").strip()
    if len(url) > URL_MAX:
        raise WebhookError(f"The URL is {len(url)} characters long; at most {URL_MAX}.", field="url")
    webhook_url_check(url)
    return url


def _events_clean(events) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise WebhookError("Choose at least one event.", field="events")
    unknown = sorted({str(e) for e in events} - set(EVENT_TYPES))
    if unknown:
        raise WebhookError(f"Unknown events: {', '.join(unknown)}.", field="events")
    return [e for e in EVENT_TYPES if e in set(events)]  # in the documented order, each once


def _partner_clean(*, is_partner: bool, partner: Partner | None) -> None:
    if is_partner and partner is None:
        raise WebhookError(
            "Choose the partner this endpoint belongs to: each delivery with personal data is logged as a disclosure "
            "to them.",
            field="partner",
        )
    if partner is not None and not is_partner:
        raise WebhookError(
            "An endpoint linked to a partner is a partner's endpoint: tick “Partner”.", field="is_partner"
        )
    if partner is not None and not partner.is_active:
        raise WebhookError(f"{partner.name} is inactive: nothing can be shared with it.", field="partner")


def _personal_data_require(user) -> None:
    actor_require(user, PERSONAL_DATA_PERMISSION, action="send people's addresses and names to a webhook endpoint")


def _snapshot(endpoint: WebhookEndpoint) -> dict:
    return {field: getattr(endpoint, field) for field in LOGGED_FIELDS} | {
        "partner": endpoint.partner.name if endpoint.partner else None
    }


def webhook_endpoint_create(
    *,
    user,
    name: str,
    url: str,
    events: list[str],
    enabled: bool = True,
    is_partner: bool = False,
    partner: Partner | None = None,
    include_personal_data: bool = False,
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint with a new secret; returns it and the secret, which is shown to staff once."""
    actor_require(user, MANAGE, action="add a webhook endpoint")
    name = _name_clean(name)
    url = _url_clean(url)
    events = _events_clean(events)
    _partner_clean(is_partner=is_partner, partner=partner)
    if include_personal_data:
        _personal_data_require(user)
    secret = webhook_secret_new()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            name=name,
            url=url,
            events=events,
            enabled=enabled,
            is_partner=is_partner,
            partner=partner,
            include_personal_data=include_personal_data,
            secret=secret,
            created_by=user,
        )
        WEBHOOK_LOG.write(instance=endpoint, action="webhooks.endpoint_create", user=user, data=_snapshot(endpoint))
    return endpoint, secret


def webhook_endpoint_update(
    *,
    user,
    endpoint: WebhookEndpoint,
    name=UNSET,
    url=UNSET,
    events=UNSET,
    enabled=UNSET,
    is_partner=UNSET,
    partner=UNSET,
    include_personal_data=UNSET,
) -> WebhookEndpoint:
    """Change what is given, leave the rest. Enabling an endpoint clears why it was disabled and its failing time:
    its pending deliveries go out again, in order."""
    actor_require(user, MANAGE, action="change a webhook endpoint")
    # Validated before the transaction: checking the URL resolves its host (DNS, up to its timeout), a network call
    # that must not happen while the endpoint's row is locked.
    name = name if name is UNSET else _name_clean(name)
    url = url if url is UNSET else _url_clean(url)
    events = events if events is UNSET else _events_clean(events)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("partner")
        endpoint = locked.get(pk=endpoint.pk)
        before = _snapshot(endpoint)
        if name is not UNSET:
            endpoint.name = name
        if url is not UNSET:
            endpoint.url = url
        if events is not UNSET:
            endpoint.events = events
        if is_partner is not UNSET:
            endpoint.is_partner = bool(is_partner)
        if partner is not UNSET:
            endpoint.partner = partner
        if include_personal_data is not UNSET:
            if include_personal_data and not endpoint.include_personal_data:
                _personal_data_require(user)  # turning it on; leaving it on is no new disclosure
            endpoint.include_personal_data = bool(include_personal_data)
        _partner_clean(is_partner=endpoint.is_partner, partner=endpoint.partner)
        if enabled is not UNSET and bool(enabled) != endpoint.enabled:
            endpoint.enabled = bool(enabled)
            if endpoint.enabled:
                endpoint.failing_since, endpoint.disabled_reason = None, ""
                transaction.on_commit(webhook_deliveries_wake)
            else:
                endpoint.disabled_reason = "Disabled by staff."
        endpoint.save()
        after = _snapshot(endpoint)
        changed = {k: after[k] for k in after if after[k] != before[k]}
        WEBHOOK_LOG.write(instance=endpoint, action="webhooks.endpoint_update", user=user, data={"changed": changed})
    return endpoint


def webhook_endpoint_secret_rotate(*, user, endpoint: WebhookEndpoint, previous_valid_hours: float | None = None):
    """A new secret, returned to be shown once. The previous one goes on signing too (both signatures in
    ``webhook-signature``) for ``previous_valid_hours`` (default ``WEBHOOK_SECRET_OVERLAP_HOURS``), so the receiver
    can switch without losing an event. Rotating again during an overlap ends the older secret at once."""
    actor_require(user, MANAGE, action="rotate a webhook endpoint's secret")
    hours = settings.WEBHOOK_SECRET_OVERLAP_HOURS if previous_valid_hours is None else previous_valid_hours
    if hours < 0:
        raise WebhookError("The previous secret's overlap cannot be negative.", field="previous_valid_hours")
    secret = webhook_secret_new()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=hours)
        endpoint.secret = secret
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
        WEBHOOK_LOG.write(
            instance=endpoint,
            action="webhooks.endpoint_secret_rotate",
            user=user,
            data={"previous_secret_valid_until": endpoint.previous_secret_expires_at.isoformat()},
        )
    return endpoint, secret


def webhook_endpoint_delete(*, user, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint with its deliveries and their attempts (the events stay for other endpoints). The
    disclosure log keeps what was disclosed through it."""
    actor_require(user, MANAGE, action="delete a webhook endpoint")
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        WEBHOOK_LOG.write(
            instance=endpoint,
            action="webhooks.endpoint_delete",
            user=user,
            data={"name": endpoint.name, "url": endpoint.url, "deliveries": endpoint.deliveries.count()},
        )
        endpoint.delete()


def webhook_delivery_resend(*, user, delivery: WebhookDelivery) -> WebhookDelivery:
    """One new attempt now, for a delivery that succeeded or failed; it keeps its ``webhook-id``, so a receiver that
    keeps ids can tell a repeat. Refused for one still pending, one skipped (the reason still holds) and when the
    endpoint is disabled."""
    actor_require(user, MANAGE, action="send a webhook delivery again")
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint").get(
            pk=delivery.pk
        )
        if delivery.state == DeliveryState.PENDING:
            raise WebhookError("This delivery is still pending: it will be attempted anyway.", field="delivery")
        if delivery.state == DeliveryState.SKIPPED:
            raise WebhookError(f"This delivery was skipped: {delivery.reason}", field="delivery")
        if not delivery.endpoint.enabled:
            raise WebhookError("The endpoint is disabled: enable it first.", field="delivery")
        was = delivery.state
        delivery.state = DeliveryState.PENDING
        delivery.next_attempt_at = timezone.now()
        delivery.attempts_allowed = delivery.attempts + 1
        delivery.finished_at = None
        delivery.reason = "Sent again by staff."
        delivery.save(update_fields=["state", "next_attempt_at", "attempts_allowed", "finished_at", "reason"])
        WEBHOOK_LOG.write(
            instance=delivery.endpoint,
            action="webhooks.delivery_resend",
            user=user,
            data={"delivery": delivery.pk, "event": delivery.event.message_id, "was": was},
        )
        transaction.on_commit(webhook_deliveries_wake)
    return delivery
