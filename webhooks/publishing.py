"""From a change to the ledger: an event row and one delivery row per endpoint that wants it, written inside the
transaction of the change (registered with ``subscribers.outbound`` when the app starts), and a worker woken after
commit. So every committed change is announced at least once, and a change that rolls back announces nothing.

Privacy is decided here first and again just before each attempt (``webhooks.delivery``): an event about a person
who objected to sharing is never delivered to a partner's endpoint; its delivery row is written as skipped, with the
reason, so staff can see it was held back.
"""

import json
from functools import reduce
from operator import or_

from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from subscribers.addresses import address_hmac
from subscribers.models import Subscriber, Suppression, SuppressionReason, SuppressionScope
from subscribers.personal_data import ErasureTarget, text_scrub

from .models import EVENT_TYPES, DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEvent

OBJECTED_REASON = "The person objected to sharing with third parties; a partner's endpoint never receives them."
# Addresses suppressed on these scopes may not be shared (the same rule as a partner export's).
SHARING_REFUSED_SCOPES = (SuppressionScope.THIRD_PARTY, SuppressionScope.ALL)


def sharing_refused(*, address_hmac_value: str) -> bool:
    """Whether the person with this address HMAC objected to sharing (or was erased, which includes it)."""
    if not address_hmac_value:
        return False
    return Suppression.objects.filter(address_hmac=address_hmac_value, scope__in=SHARING_REFUSED_SCOPES).exists()


def erasure_tombstoned(*, address_hmac_value: str) -> bool:
    """Whether this address was erased at its owner's request (the tombstone: a suppression on every scope, reason
    erased). Its owner asked for it to be forgotten, so no payload about it may carry it again, even when it signs
    up anew (pending until a fresh confirmed opt-in): events about it go out thin."""
    if not address_hmac_value:
        return False
    return Suppression.objects.filter(
        address_hmac=address_hmac_value, scope=SuppressionScope.ALL, reason=SuppressionReason.ERASED
    ).exists()


# Wake-ups are coalesced through the cache (Redis, shared by every process): at most one task queued at once per
# second, and while those are suppressed, at most one queued per second to start a second later.
WAKE_NOW_KEY = "webhooks:wake:now"
WAKE_LATER_KEY = "webhooks:wake:later"
WAKE_SECONDS = 1


def webhook_deliveries_wake() -> None:
    """Queue a delivery task (call after commit: the worker must find the rows), coalesced: a task claims until
    nothing is due, so one per burst is enough, and a burst of 10,000 events once left about 9,950 tasks that found
    nothing. The first wake of a second queues a task at once. A wake suppressed because one was queued less than a
    second ago may come after that task's last claim, so it queues one to start in a second (unless such a one was
    queued within the last second: that one starts after this commit too). So a committed event waits at most about
    a second for a worker that is free, and the sweep (every 30 s) remains the backstop for a lost message."""
    from django.core.cache import cache

    from .tasks import webhook_deliver_task

    if cache.add(WAKE_NOW_KEY, 1, timeout=WAKE_SECONDS):
        webhook_deliver_task.delay()
    elif cache.add(WAKE_LATER_KEY, 1, timeout=WAKE_SECONDS):
        webhook_deliver_task.apply_async(countdown=WAKE_SECONDS)


def webhook_event_wanted(type: str) -> bool:
    """Whether an enabled endpoint wants events of ``type`` (``subscribers.outbound``'s ``listens``).

    Asked before every one-click unsubscribe, so in plain SQL: building this query with the ORM took seven times as
    long as running it, and was most of what a one-click unsubscribe cost in Python (docs/BENCHMARKS.md)."""
    table = WebhookEndpoint._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT events FROM {table} WHERE enabled")  # noqa: S608 - the table name comes from the model
        rows = cursor.fetchall()
    # JSON arrives as text (Django's JSONField decodes it, not the driver).
    return any(type in (json.loads(events) if isinstance(events, str) else events or []) for (events,) in rows)


def webhook_event_wanted_sql(type: str) -> tuple[str, dict]:
    """``webhook_event_wanted`` as a condition for a PostgreSQL statement (``subscribers.outbound``'s
    ``listens_sql``): the one-click unsubscribe asks it in its own statement instead of a round trip of its own."""
    table = WebhookEndpoint._meta.db_table
    # jsonb containment: the endpoint's list of types holds this one.
    return f"EXISTS (SELECT 1 FROM {table} WHERE enabled AND events @> %(webhooks_type)s::jsonb)", {  # noqa: S608
        "webhooks_type": json.dumps([type])
    }


def webhook_event_publish(
    *, type: str, data: dict, subscriber=None, ordering_key: str | None = None
) -> WebhookEvent | None:
    """Record the event and its deliveries to the enabled endpoints that want ``type``; None when none does (then
    nothing is written). Call inside the transaction of the change; the workers are woken after it commits."""
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type: {type}")
    # Only what deciding needs: this runs in every change that announces itself (every unsubscribe), and the
    # secrets, URLs and names are read by the worker that delivers.
    enabled = WebhookEndpoint.objects.filter(enabled=True).only("pk", "events", "is_partner")
    endpoints = [e for e in enabled if type in (e.events or [])]
    if not endpoints:
        return None
    data = dict(data)
    personal, hmac_value = {}, ""
    if subscriber is not None and transaction.get_connection().in_atomic_block:
        # Event ids are taken at insert, not at commit: two overlapping transactions about one person could commit
        # in the other order than their ids, and be delivered so. Holding the person's row until this transaction
        # commits makes the next one about them wait before it takes its id. Only here, once an endpoint wants the
        # event: with none, publishing costs nothing.
        list(Subscriber.objects.select_for_update().filter(pk=subscriber.pk).values_list("pk", flat=True))
    if subscriber is not None:
        data.setdefault("subscriber", str(subscriber.public_id))
        ordering_key = ordering_key or str(subscriber.public_id)
        hmac_value = subscriber.address_hmac or address_hmac(subscriber.email)
        if not erasure_tombstoned(address_hmac_value=hmac_value):
            personal = {"email": subscriber.email, "first_name": subscriber.first_name}
    now = timezone.now()
    event = WebhookEvent.objects.create(
        type=type,
        occurred_at=now,
        data=data,
        personal=personal,
        subscriber=subscriber,
        address_hmac=hmac_value,
        ordering_key=ordering_key or "",
    )
    objected = any(e.is_partner for e in endpoints) and sharing_refused(address_hmac_value=hmac_value)
    rows = []
    for endpoint in endpoints:
        skip = endpoint.is_partner and objected
        rows.append(
            WebhookDelivery(
                event=event,
                endpoint=endpoint,
                ordering_key=event.ordering_key,
                state=DeliveryState.SKIPPED if skip else DeliveryState.PENDING,
                reason=OBJECTED_REASON if skip else "",
                next_attempt_at=None if skip else now,
                finished_at=now if skip else None,
            )
        )
    WebhookDelivery.objects.bulk_create(rows)
    if not objected or not all(e.is_partner for e in endpoints):
        transaction.on_commit(webhook_deliveries_wake)
    return event


def webhooks_erase(target: ErasureTarget) -> dict[str, int]:
    """Eraser (``subscribers.personal_data``): the person's address and name leave every event about them, so
    deliveries still pending go out thin; any address in an event's data is replaced. The events themselves stay:
    they hold public ids only, and an erasure is itself announced (``subscriber.erased``)."""
    counts = {"webhook_events_scrubbed": 0}
    if target.subscriber_id is not None:
        counts["webhook_events_scrubbed"] = (
            WebhookEvent.objects.filter(subscriber_id=target.subscriber_id).exclude(personal={}).update(personal={})
        )
    if target.emails:
        naming = reduce(or_, (Q(text__icontains=email) for email in target.emails))
        events = WebhookEvent.objects.annotate(text=Cast("data", TextField())).filter(naming)
        for event in events.only("pk", "data"):
            event.data = text_scrub(event.data, target.emails)
            event.save(update_fields=["data"])
            counts["webhook_events_scrubbed"] += 1
    return counts
