"""Delivering webhooks from the ledger: claim what is due, post it outside any transaction, record what came back.

Guarantees, and why:

- **At least once.** A delivery is claimed under a lease in one short transaction (``SELECT ... FOR UPDATE SKIP
  LOCKED``, by id, so workers never wait on each other), posted with a timeout outside any transaction (no network
  call holds a row lock or a connection in a transaction), and its outcome recorded in another. A worker lost
  mid-post leaves the lease to expire, and the delivery is tried again: receivers drop repeats by ``webhook-id``.
  The lease is one attempt long and renewed just before each attempt of a batch; a row whose lease ran out before
  its worker reached it is left to whoever claimed it again, so a slow batch is never posted twice at once.
- **Retries** on any answer but 2xx, a timeout or a connection error, after ``WEBHOOK_RETRY_SCHEDULE`` (5 s, 5 min,
  30 min, 2 h, 5 h, 10 h, 10 h: eight attempts in all), then the delivery has failed for good.
- **In order per subscriber.** A delivery is not claimed while an earlier (by event id) delivery with the same
  ordering key to the same endpoint is still pending, so a receiver that fails and recovers gets every event about
  a person in the order they happened. Other people's events do not wait.
- **Privacy just before sending.** A partner's endpoint is checked again for an objection made since the event was
  queued and for its partner having been made inactive since (the delivery is then skipped, with the reason), and a
  delivery carrying personal data to a partner is written to the disclosure log once its URL passed the check at
  attempt time and just before it is posted, so the log never misses one that left nor holds one refused there.
- **An endpoint failing for five days** (``WEBHOOK_DISABLE_AFTER_DAYS``) with no success is disabled, with the
  reason recorded, and staff are told by email.
"""

import hashlib
import http.client
import logging
import socket
import ssl
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from subscribers.links import absolute
from subscribers.mail import transactional_email_send
from subscribers.services.disclosures import webhook_disclosure_record

from .addresses import Target, webhook_url_check
from .errors import WebhookUrlRefused
from .models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .publishing import OBJECTED_REASON, sharing_refused
from .signing import webhook_body, webhook_headers

logger = logging.getLogger(__name__)

EXCERPT_BYTES = 1024
PERSONAL_FIELDS = ["email", "first_name"]
MANAGE_PERMISSION = ("webhooks", "manage_webhooks")
INACTIVE_PARTNER_REASON = "{partner} is inactive: nothing is shared with a partner whose contract has ended."


def retry_schedule() -> list[float]:
    """Seconds to wait after each failed attempt; its length + 1 is the number of attempts."""
    return [float(s) for s in settings.WEBHOOK_RETRY_SCHEDULE]


def attempts_allowed() -> int:
    return len(retry_schedule()) + 1


def _lease_seconds() -> float:
    # Longer than any attempt can take (its timeout, twice: connect and read), so a live attempt never loses it.
    return 2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30


def webhook_lease_until(now: datetime) -> datetime:
    """When a lease taken at ``now`` runs out. A claim sets it on every row it takes; the exact value is the claiming
    worker's token: it still holds a row only while the row's lease is that value and has not run out."""
    return now + timedelta(seconds=_lease_seconds())


def _due(now: datetime):
    """Deliveries that may be attempted now: pending, due, not held by a live worker, their endpoint enabled, and no
    earlier delivery with their ordering key to their endpoint still waiting."""
    earlier_waiting = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        ordering_key=OuterRef("ordering_key"),
        state=DeliveryState.PENDING,
        event_id__lt=OuterRef("event_id"),
    )
    return (
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Q(ordering_key="") | ~Exists(earlier_waiting))
    )


def webhook_deliveries_claim(*, size: int, now: datetime | None = None) -> list[int]:
    """Claim up to ``size`` due deliveries, in id order, under a lease until ``webhook_lease_until(now)``; rows other
    workers hold are skipped. The lease covers one attempt, not the batch: each row's lease is renewed just before
    its attempt (``webhook_delivery_attempt``), and a row whose lease ran out meanwhile is left to whoever claimed
    it again."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            _due(now)
            .order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:size]
        )
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(lease_expires_at=webhook_lease_until(now))
    return ids


def _secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > now:
        secrets.append(endpoint.previous_secret)
    return secrets


def _prepare(
    *, delivery_id: int, now: datetime, held_until: datetime | None
) -> tuple[WebhookDelivery, bytes] | None:
    """Just before posting, in one short transaction: check this worker still holds the delivery and renew its lease
    for this attempt, skip it if the person objected since or the partner is inactive now (partner endpoints), and
    build the body. None when there is nothing to post."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("event", "endpoint", "endpoint__partner")
            .filter(pk=delivery_id, state=DeliveryState.PENDING)
            .first()
        )
        if delivery is None:
            return None
        if held_until is not None:
            # Earlier attempts of the batch took long enough for this row's lease to run out: another worker may have
            # claimed it since (its lease is then another value) and posts it. Posting too would send it twice, count
            # two attempts and could overtake the order; an unclaimed one is simply claimed again.
            if delivery.lease_expires_at != held_until or held_until <= now:
                return None
            delivery.lease_expires_at = webhook_lease_until(now)  # the whole of this attempt, from now
            delivery.save(update_fields=["lease_expires_at"])
        event, endpoint = delivery.event, delivery.endpoint
        skip_reason = ""
        if endpoint.is_partner and endpoint.partner is not None and not endpoint.partner.is_active:
            # Checked when the endpoint was saved, but a partner can be made inactive since (its contract ended).
            skip_reason = INACTIVE_PARTNER_REASON.format(partner=endpoint.partner.name)
        elif endpoint.is_partner and sharing_refused(address_hmac_value=event.address_hmac):
            skip_reason = OBJECTED_REASON
        if skip_reason:
            delivery.state, delivery.reason = DeliveryState.SKIPPED, skip_reason
            delivery.next_attempt_at = delivery.lease_expires_at = None
            delivery.finished_at = now
            delivery.save(update_fields=["state", "reason", "next_attempt_at", "lease_expires_at", "finished_at"])
            return None
        data = dict(event.data)
        personal = event.personal if endpoint.include_personal_data else {}
        data.update(personal)
        body = webhook_body(type=event.type, occurred_at=event.occurred_at, data=data)
    return delivery, body


def _disclosure_log(*, delivery: WebhookDelivery, body: bytes) -> None:
    """Write the disclosure log's entry for a partner delivery carrying personal data, once (its first attempt that
    is actually posted), just before the post: after the URL check, so a post refused there is no disclosure."""
    event, endpoint = delivery.event, delivery.endpoint
    personal = event.personal if endpoint.include_personal_data else {}
    if not (endpoint.is_partner and personal and event.subscriber_id and delivery.disclosure_id is None):
        return
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk, disclosure__isnull=True)
        if not locked.exists():
            return  # logged meanwhile
        delivery.disclosure = webhook_disclosure_record(
            partner=endpoint.partner,
            recipient=endpoint.name,
            subscriber_id=event.subscriber_id,
            fields=[f for f in PERSONAL_FIELDS if f in personal],
            checksum=hashlib.sha256(body).hexdigest(),
            description=f"{event.type} {event.message_id} to webhook {endpoint.name}",
        )
        delivery.save(update_fields=["disclosure"])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, not to whatever a second DNS lookup returns."""

    def __init__(self, *args, address: str | None, **kwargs):
        super().__init__(*args, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address or self.host, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS verified against the URL's host name (SNI and certificate), not the address."""

    def __init__(self, *args, address: str | None, **kwargs):
        self._pinned_context = ssl.create_default_context()
        super().__init__(*args, context=self._pinned_context, **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address or self.host, self.port), self.timeout)
        self.sock = self._pinned_context.wrap_socket(sock, server_hostname=self.host)


def _post(*, target: Target, body: bytes, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """POST ``body``; (HTTP status or None, error, the first KB of the answer). Never raises for a network error."""
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(
        target.host, target.port, timeout=settings.WEBHOOK_TIMEOUT_SECONDS, address=target.address
    )
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": "newsletter-webhooks/1", **headers},
        )
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", errors="replace")
        return response.status, "", excerpt
    except TimeoutError:
        return None, f"timed out after {settings.WEBHOOK_TIMEOUT_SECONDS:g} s", ""
    except (OSError, http.client.HTTPException) as err:
        return None, f"{type(err).__name__}: {err}"[:255], ""
    finally:
        connection.close()


def webhook_delivery_attempt(
    *, delivery_id: int, held_until: datetime | None = None, now: datetime | None = None
) -> WebhookAttempt | None:
    """One attempt of a claimed delivery: prepare, post (outside any transaction), record. ``held_until`` is the
    lease its claim set (None: no check, for a caller that holds it otherwise). None when nothing was posted (it was
    skipped, is no longer pending, or this worker no longer holds it)."""
    now = now or timezone.now()
    prepared = _prepare(delivery_id=delivery_id, now=now, held_until=held_until)
    if prepared is None:
        return None
    delivery, body = prepared
    endpoint = delivery.endpoint
    started = time.monotonic()
    try:
        # At every attempt, not only when saved: the name may point elsewhere now.
        target = webhook_url_check(endpoint.url)
    except WebhookUrlRefused as err:
        status, error, excerpt = None, str(err)[:255], ""
    else:
        _disclosure_log(delivery=delivery, body=body)
        headers = webhook_headers(
            message_id=delivery.event.message_id, timestamp=now, body=body, secrets=_secrets(endpoint, now)
        )
        status, error, excerpt = _post(target=target, body=body, headers=headers)
    duration_ms = int((time.monotonic() - started) * 1000)
    return webhook_attempt_record(
        delivery_id=delivery.pk, at=now, status_code=status, error=error, excerpt=excerpt, duration_ms=duration_ms
    )


def webhook_attempt_record(
    *, delivery_id: int, at: datetime, status_code: int | None, error: str, excerpt: str, duration_ms: int
) -> WebhookAttempt:
    """Record an attempt and move the delivery on: succeeded on a 2xx, otherwise pending again after the next wait of
    the schedule, or failed once the attempts run out. The endpoint's last success and failing-since follow."""
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        attempt = WebhookAttempt.objects.create(
            delivery=delivery,
            at=at,
            status_code=status_code,
            error=error,
            response_excerpt=excerpt,
            duration_ms=duration_ms,
        )
        delivery.attempts += 1
        delivery.last_status = f"HTTP {status_code}" if status_code is not None else error[:120]
        delivery.lease_expires_at = None
        endpoint_changes: dict = {}
        if delivery.state == DeliveryState.PENDING:
            allowed = delivery.attempts_allowed or attempts_allowed()
            if attempt.succeeded:
                delivery.state, delivery.next_attempt_at, delivery.finished_at = DeliveryState.SUCCEEDED, None, now
                endpoint_changes = {"last_success_at": now, "failing_since": None}
            elif delivery.attempts >= allowed:
                delivery.state, delivery.next_attempt_at, delivery.finished_at = DeliveryState.FAILED, None, now
                delivery.reason = f"Gave up after {delivery.attempts} attempt{'' if delivery.attempts == 1 else 's'}."
            else:
                wait = retry_schedule()[min(delivery.attempts, len(retry_schedule())) - 1]
                delivery.next_attempt_at = now + timedelta(seconds=wait)
                transaction.on_commit(lambda: _deliveries_wake_later(seconds=wait))
        delivery.save()
        if endpoint_changes:
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(**endpoint_changes)
        elif not attempt.succeeded:
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, failing_since__isnull=True).update(
                failing_since=at
            )
    return attempt


def _deliveries_wake_later(*, seconds: float) -> None:
    from .tasks import webhook_deliver_task

    if webhook_deliver_task.app.conf.task_always_eager:
        return  # tasks run inline (the test settings): there is no later; the beat sweep or a test runs it
    webhook_deliver_task.apply_async(countdown=max(0.0, seconds))


def webhook_deliveries_run(*, batch: int | None = None, max_seconds: float | None = None) -> int:
    """Claim and attempt due deliveries until none is due (or ``max_seconds`` have passed: then another task is
    queued to go on, so one task never holds a worker for long). Returns the attempts made."""
    batch = batch or settings.WEBHOOK_CLAIM_BATCH
    max_seconds = settings.WEBHOOK_TASK_SECONDS if max_seconds is None else max_seconds
    deadline = time.monotonic() + max_seconds
    attempted = 0
    while True:
        claimed_at = timezone.now()
        ids = webhook_deliveries_claim(size=batch, now=claimed_at)
        if not ids:
            return attempted
        held_until = webhook_lease_until(claimed_at)
        for delivery_id in ids:
            if webhook_delivery_attempt(delivery_id=delivery_id, held_until=held_until) is not None:
                attempted += 1
        if time.monotonic() > deadline:
            _deliveries_wake_later(seconds=0)
            return attempted


def webhook_endpoints_disable_failing(*, now: datetime | None = None) -> list[WebhookEndpoint]:
    """Disable every enabled endpoint whose deliveries have all failed for ``WEBHOOK_DISABLE_AFTER_DAYS`` (no success
    since), record why, and tell staff by email. Its pending deliveries wait until it is enabled again."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
    disabled = []
    with transaction.atomic():
        for endpoint in WebhookEndpoint.objects.select_for_update().filter(enabled=True, failing_since__lte=cutoff):
            since = timezone.localtime(endpoint.failing_since)
            endpoint.enabled = False
            endpoint.disabled_reason = (
                f"Disabled automatically on {timezone.localtime(now):%d %b %Y %H:%M}: every delivery failed for "
                f"{settings.WEBHOOK_DISABLE_AFTER_DAYS} days, since {since:%d %b %Y %H:%M}."
            )
            endpoint.save(update_fields=["enabled", "disabled_reason"])
            _staff_tell_disabled(endpoint=endpoint)
            disabled.append(endpoint)
    for endpoint in disabled:
        logger.warning("Webhook endpoint %s disabled: %s", endpoint.pk, endpoint.disabled_reason)
    return disabled


def webhook_staff_recipients() -> list[str]:
    """Who is told of a disabled endpoint: active staff who are superusers or hold the manage permission. Staff only:
    an API key acts through a service user holding its scopes' permissions, with an address nobody reads and
    ``is_staff`` false (this app may not import ``api`` to tell those apart, and need not)."""
    permission = Permission.objects.filter(
        content_type__app_label=MANAGE_PERMISSION[0], codename=MANAGE_PERMISSION[1]
    ).first()
    holders = Q(is_superuser=True)
    if permission is not None:
        holders |= Q(groups__permissions=permission) | Q(user_permissions=permission)
    users = get_user_model().objects.filter(holders, is_active=True, is_staff=True).exclude(email="").distinct()
    return sorted(set(users.values_list("email", flat=True)))


def _staff_tell_disabled(*, endpoint: WebhookEndpoint) -> None:
    from django.urls import reverse

    url = absolute(reverse("webhooks_admin:endpoint", args=[endpoint.pk]))
    for email in webhook_staff_recipients():
        transactional_email_send(
            to=email,
            template="webhook_endpoint_disabled",
            kind="webhook-endpoint-disabled",
            context={"endpoint": endpoint, "endpoint_url": url, "days": settings.WEBHOOK_DISABLE_AFTER_DAYS},
        )


def webhooks_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The beat task's work: disable endpoints failing for too long, forget previous secrets whose time is up, and
    wake workers for due deliveries no task holds (a retry whose task was lost, work queued before a Redis flush)."""
    now = now or timezone.now()
    disabled = webhook_endpoints_disable_failing(now=now)
    expired = WebhookEndpoint.objects.filter(previous_secret_expires_at__lte=now).update(
        previous_secret="", previous_secret_expires_at=None
    )
    due = _due(now).count()
    wakes = min(due, settings.WEBHOOK_SWEEP_WAKE)
    for _ in range(wakes):
        _deliveries_wake_later(seconds=0)
    return {"disabled": len(disabled), "secrets_expired": expired, "due": due, "woken": wakes}
