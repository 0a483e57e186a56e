"""Who a send goes to, and who is left out and why: reads only, in SQL, never a Python list of everyone."""

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from campaigns.models import Delivery
from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Suppression, SuppressionScope

MARKETING_SCOPES = (SuppressionScope.MARKETING, SuppressionScope.ALL)


def _suppressed(reason=None):
    rows = Suppression.objects.filter(address_hmac=OuterRef("address_hmac"), scope__in=MARKETING_SCOPES)
    return Exists(rows.filter(reason=reason) if reason else rows)


def audience_summary(*, topic_ids: list[int]) -> dict:
    """Counts for the confirmation step: who will receive the send, and who is left out, by reason."""
    on_topics = Q(subscriptions__topic_id__in=topic_ids)
    active = Subscriber.objects.filter(on_topics, subscriptions__status=SubscriptionStatus.ACTIVE).distinct()
    suppressed = active.filter(_suppressed())
    summary = {"eligible": active.exclude(_suppressed()).count(), "excluded": {}}
    summary["excluded"]["pending confirmation"] = (
        Subscriber.objects.filter(on_topics, subscriptions__status=SubscriptionStatus.PENDING)
        .exclude(pk__in=active.values("pk"))
        .distinct()
        .count()
    )
    summary["excluded"]["unsubscribed"] = (
        Subscriber.objects.filter(on_topics, subscriptions__status=SubscriptionStatus.UNSUBSCRIBED)
        .exclude(pk__in=active.values("pk"))
        .distinct()
        .count()
    )
    for reason in ("bounce", "complaint", "erased", "unsubscribed", "manual"):
        label = {
            "bounce": "bounced",
            "complaint": "complained",
            "unsubscribed": "unsubscribed from everything",
            "manual": "suppressed by staff",
        }.get(reason, reason)
        summary["excluded"][label] = suppressed.filter(_suppressed(reason)).count()
    return summary


def _chunk_end(*, topic_ids: list[int], after: int, size: int) -> int | None:
    """The subscriber id that closes a chunk of about ``size`` subscribers after ``after``; None: the rest fit."""
    subscription = Subscription._meta.db_table
    topics = ", ".join(["%s"] * len(topic_ids))
    sql = f"""
        SELECT sub.subscriber_id FROM {subscription} sub
        WHERE sub.status = %s AND sub.topic_id IN ({topics}) AND sub.subscriber_id > %s
        ORDER BY sub.subscriber_id LIMIT 1 OFFSET %s
    """  # noqa: S608 - the table name comes from the model; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [SubscriptionStatus.ACTIVE, *topic_ids, after, size - 1])
        row = cursor.fetchone()
    return row[0] if row else None


def audience_snapshot(
    *, send_id: int, topic_ids: list[int], after: int = 0, size: int | None = None
) -> tuple[int, int | None]:
    """Write one queued Delivery per eligible subscriber with one INSERT ... SELECT.

    Eligible: an active subscription to one of the topics (the lowest-numbered one names the topic of the
    unsubscribe link), and no marketing or all-scope suppression of the address.

    With ``size``, only the next chunk of about that many subscribers, in subscriber id order after ``after``:
    a large audience is written chunk by chunk, so that sending starts after the first. Returns the rows written
    and the last subscriber id the chunk covered, or None when it reached the end. Rows already there are left
    alone (ON CONFLICT DO NOTHING), so a chunk written twice writes nothing twice.
    """
    if not topic_ids:
        return 0, None
    end = _chunk_end(topic_ids=topic_ids, after=after, size=size) if size else None
    delivery, subscription = Delivery._meta.db_table, Subscription._meta.db_table
    subscriber, suppression = Subscriber._meta.db_table, Suppression._meta.db_table
    topics = ", ".join(["%s"] * len(topic_ids))
    until = "AND sub.subscriber_id <= %s" if end is not None else ""
    sql = f"""
        INSERT INTO {delivery} (send_id, subscriber_id, subscription_id)
        SELECT %s, sub.subscriber_id, MIN(sub.id)
        FROM {subscription} sub
        JOIN {subscriber} person ON person.id = sub.subscriber_id
        WHERE sub.status = %s AND sub.topic_id IN ({topics}) AND sub.subscriber_id > %s {until}
          AND NOT EXISTS (
            SELECT 1 FROM {suppression} sup
            WHERE sup.address_hmac = person.address_hmac AND sup.scope IN (%s, %s)
          )
        GROUP BY sub.subscriber_id
        ON CONFLICT DO NOTHING
    """  # noqa: S608 - table names come from the models; every value is a parameter
    params = [send_id, SubscriptionStatus.ACTIVE, *topic_ids, after, *([end] if end is not None else [])]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *MARKETING_SCOPES])
        return cursor.rowcount, end
