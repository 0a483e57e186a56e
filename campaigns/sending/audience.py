"""Who a send goes to, and who is left out and why: reads only, in SQL, never a Python list of everyone.

The audience is the people with an active subscription to the campaign's topics, narrowed by its segment when it
has one, and then, always last, without anyone whose address is suppressed for marketing and without anyone the
frequency cap (``SEND_FREQUENCY_CAP``) holds back. Whatever a segment says, it can only narrow: it is one more
condition on people already on the topics, so it can never bring in someone unsubscribed, pending, suppressed or
erased (docs/segments.md).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from campaigns.models import Delivery, DeliveryState, SendState
from campaigns.segments.compiler import at_least, segment_q
from subscribers.models import (
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
)

MARKETING_SCOPES = (SuppressionScope.MARKETING, SuppressionScope.ALL)
# Someone suppressed for several reasons is counted once, under the first of these that applies.
SUPPRESSION_LABELS = {
    SuppressionReason.ERASED: "erased",
    SuppressionReason.COMPLAINT: "complained",
    SuppressionReason.BOUNCE: "bounced",
    SuppressionReason.UNSUBSCRIBED: "unsubscribed from everything",
    SuppressionReason.OBJECTED: "objected",
    SuppressionReason.MANUAL: "suppressed by staff",
}
# Rows that will be a message to the person soon: those of other sends still running.
IN_FLIGHT = (DeliveryState.QUEUED, DeliveryState.CLAIMED)


def frequency_cap() -> tuple[int, int] | None:
    """``SEND_FREQUENCY_CAP`` as (campaigns, days), or None when there is no cap."""
    value = (settings.SEND_FREQUENCY_CAP or "").strip()
    if not value:
        return None
    try:
        count, days = (int(part) for part in value.split("/"))
        if count < 1 or days < 1:
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(f"SEND_FREQUENCY_CAP is campaigns/days, such as 2/7; got {value!r}.") from None
    return count, days


def frequency_capped(*, send_id: int | None, now: datetime) -> Exists | None:
    """True for a subscriber the frequency cap holds back from a new send: they have had the cap's number of
    campaigns in its window (deliveries SES accepted), counting those still queued for them in other running sends,
    which they are about to receive. None when there is no cap."""
    cap = frequency_cap()
    if cap is None:
        return None
    count, days = cap
    recent = Delivery.objects.filter(subscriber=OuterRef("pk")).filter(
        Q(state=DeliveryState.SENT, finished_at__gte=now - timedelta(days=days))
        | Q(state__in=IN_FLIGHT, send__state__in=(SendState.SENDING, SendState.PAUSED))
    )
    if send_id is not None:
        recent = recent.exclude(send_id=send_id)
    return at_least(recent, count)


def _narrowing(*, send_id: int | None, segment_definition, now: datetime) -> Q | None:
    """The segment and the frequency cap as one condition over Subscriber; None when neither applies."""
    conditions, narrowed = Q(), False
    if segment_definition is not None:
        conditions &= segment_q(segment_definition, now=now)
        narrowed = True
    capped = frequency_capped(send_id=send_id, now=now)
    if capped is not None:
        conditions &= ~Q(capped)
        narrowed = True
    return conditions if narrowed else None


def audience_summary(*, topic_ids: list[int], segment_definition=None, now: datetime | None = None) -> dict:
    """Counts for the confirmation step, as a funnel that adds up: the people on the topics (any subscription
    status), those of them the segment selects, who of those is left out and why (each person once, under the
    first reason that applies), and who will receive the send. One query: a row of flags per person on the
    topics, counted with ``COUNT(*) FILTER``."""
    now = now or timezone.now()
    on_topics = Subscription.objects.filter(subscriber=OuterRef("pk"), topic_id__in=topic_ids)
    rank = Case(
        *(When(reason=reason, then=Value(i)) for i, reason in enumerate(SUPPRESSION_LABELS)),
        default=Value(len(SUPPRESSION_LABELS)),
        output_field=IntegerField(),
    )
    first_suppression = (
        Suppression.objects.filter(address_hmac=OuterRef("address_hmac"), scope__in=MARKETING_SCOPES)
        .annotate(rank=rank)
        .order_by("rank", "pk")
        .values("reason")[:1]
    )
    capped = frequency_capped(send_id=None, now=now)
    in_segment = segment_q(segment_definition, now=now) if segment_definition is not None else None
    flags = (
        Subscriber.objects.filter(Exists(on_topics))
        .annotate(
            in_segment=ExpressionWrapper(in_segment, output_field=BooleanField())
            if in_segment is not None
            else Value(True, output_field=BooleanField()),
            active=Exists(on_topics.filter(status=SubscriptionStatus.ACTIVE)),
            pending=Exists(on_topics.filter(status=SubscriptionStatus.PENDING)),
            suppressed=Subquery(first_suppression),
            capped=capped if capped is not None else Value(False, output_field=BooleanField()),
        )
        .values("in_segment", "active", "pending", "suppressed", "capped")
    )
    inner, params = flags.query.sql_with_params()
    reasons = list(SUPPRESSION_LABELS)
    columns = [
        "COUNT(*)",
        "COUNT(*) FILTER (WHERE f.in_segment)",
        "COUNT(*) FILTER (WHERE f.in_segment AND NOT f.active AND f.pending)",
        "COUNT(*) FILTER (WHERE f.in_segment AND NOT f.active AND NOT f.pending)",
        *["COUNT(*) FILTER (WHERE f.in_segment AND f.active AND f.suppressed = %s)"] * len(reasons),
        "COUNT(*) FILTER (WHERE f.in_segment AND f.active AND f.suppressed IS NULL AND f.capped)",
        "COUNT(*) FILTER (WHERE f.in_segment AND f.active AND f.suppressed IS NULL AND NOT f.capped)",
    ]
    sql = f"SELECT {', '.join(columns)} FROM ({inner}) f"  # noqa: S608 - the inner query is the ORM's; values are parameters
    with connection.cursor() as cursor:
        # The reasons' placeholders come first in the text (the outer SELECT), then the inner query's.
        cursor.execute(sql, [*reasons, *params])
        row = cursor.fetchone()
    on_topic_count, in_segment_count, pending, unsubscribed, *rest = row
    by_reason, (held_back, eligible) = rest[: len(reasons)], rest[len(reasons) :]
    excluded = {"pending confirmation": pending, "unsubscribed": unsubscribed}
    excluded.update({SUPPRESSION_LABELS[r]: n for r, n in zip(reasons, by_reason, strict=True)})
    cap = frequency_cap()
    if cap is not None:
        excluded[f"frequency cap: had {cap[0]} in {cap[1]} days"] = held_back
    return {
        "on_topics": on_topic_count,
        "in_segment": in_segment_count,
        "segment": segment_definition is not None,
        "eligible": eligible,
        "excluded": excluded,
    }


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
    *,
    send_id: int,
    topic_ids: list[int],
    after: int = 0,
    size: int | None = None,
    segment_definition=None,
    now: datetime | None = None,
) -> tuple[int, int | None]:
    """Write one queued Delivery per eligible subscriber with one INSERT ... SELECT.

    Eligible: an active subscription to one of the topics (the lowest-numbered one names the topic of the
    unsubscribe link), selected by ``segment_definition`` when there is one (compiled by the ORM and embedded as
    a subquery, its values kept as parameters), not held back by the frequency cap, and no marketing or all-scope
    suppression of the address. ``now`` is the moment "the last N days" of the segment and the cap count from:
    the send's start, the same for every chunk.

    With ``size``, only the next chunk of about that many subscribers on the topics, in subscriber id order after
    ``after`` (the segment may leave fewer of them in): a large audience is written chunk by chunk, so that sending
    starts after the first. Returns the rows written and the last subscriber id the chunk covered, or None when it
    reached the end. Rows already there are left alone (ON CONFLICT DO NOTHING), so a chunk written twice writes
    nothing twice.
    """
    if not topic_ids:
        return 0, None
    end = _chunk_end(topic_ids=topic_ids, after=after, size=size) if size else None
    delivery, subscription = Delivery._meta.db_table, Subscription._meta.db_table
    subscriber, suppression = Subscriber._meta.db_table, Suppression._meta.db_table
    topics = ", ".join(["%s"] * len(topic_ids))
    until = "AND sub.subscriber_id <= %s" if end is not None else ""
    narrowing = _narrowing(send_id=send_id, segment_definition=segment_definition, now=now or timezone.now())
    selected, selected_params = "", []
    if narrowing is not None:
        # The same id range as the chunk, so the subquery reads only this chunk's people.
        chosen = Subscriber.objects.filter(narrowing, pk__gt=after)
        if end is not None:
            chosen = chosen.filter(pk__lte=end)
        inner, selected_params = chosen.values("pk").query.sql_with_params()
        selected = f"AND sub.subscriber_id IN ({inner})"
    sql = f"""
        INSERT INTO {delivery} (send_id, subscriber_id, subscription_id)
        SELECT %s, sub.subscriber_id, MIN(sub.id)
        FROM {subscription} sub
        JOIN {subscriber} person ON person.id = sub.subscriber_id
        WHERE sub.status = %s AND sub.topic_id IN ({topics}) AND sub.subscriber_id > %s {until}
          {selected}
          AND NOT EXISTS (
            SELECT 1 FROM {suppression} sup
            WHERE sup.address_hmac = person.address_hmac AND sup.scope IN (%s, %s)
          )
        GROUP BY sub.subscriber_id
        ON CONFLICT DO NOTHING
    """  # noqa: S608 - table names come from the models, the subquery from the ORM; every value is a parameter
    params = [send_id, SubscriptionStatus.ACTIVE, *topic_ids, after, *([end] if end is not None else [])]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *selected_params, *MARKETING_SCOPES])
        return cursor.rowcount, end
