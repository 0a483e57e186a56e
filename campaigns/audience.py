"""Who a send goes to, and who is left out and why: reads only, in SQL, never a Python list of everyone."""

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Suppression, SuppressionScope

from .models import Delivery

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


def audience_snapshot(*, send_id: int, topic_ids: list[int]) -> int:
    """Write one queued Delivery per eligible subscriber with one INSERT ... SELECT; return the rows written.

    Eligible: an active subscription to one of the topics (the lowest-numbered one names the topic of the
    unsubscribe link), and no marketing or all-scope suppression of the address.
    """
    if not topic_ids:
        return 0
    delivery, subscription = Delivery._meta.db_table, Subscription._meta.db_table
    subscriber, suppression = Subscriber._meta.db_table, Suppression._meta.db_table
    topics = ", ".join(["%s"] * len(topic_ids))
    sql = f"""
        INSERT INTO {delivery} (send_id, subscriber_id, subscription_id)
        SELECT %s, sub.subscriber_id, MIN(sub.id)
        FROM {subscription} sub
        JOIN {subscriber} person ON person.id = sub.subscriber_id
        WHERE sub.status = %s AND sub.topic_id IN ({topics})
          AND NOT EXISTS (
            SELECT 1 FROM {suppression} sup
            WHERE sup.address_hmac = person.address_hmac AND sup.scope IN (%s, %s)
          )
        GROUP BY sub.subscriber_id
    """  # noqa: S608 - table names come from the models; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [send_id, SubscriptionStatus.ACTIVE, *topic_ids, *MARKETING_SCOPES])
        return cursor.rowcount
