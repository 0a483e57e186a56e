"""A checked segment definition, compiled to a ``Q`` over ``Subscriber`` (docs/segments.md).

Each condition becomes a lookup this module chose for its operator, or an ``Exists`` over the table that holds the
fact (an attribute value, a subscription, a delivery, a consent event), correlated on the subscriber with
``OuterRef``; values reach the database only as query parameters. ``Exists`` rather than joins: a subscriber
matches once however many rows match, so counts need no DISTINCT, and PostgreSQL runs each as a semi-join over
the index that leads with the attribute (or the subscriber), which is what keeps a count over a million people fast.
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Value
from django.utils import timezone

from campaigns.models import Delivery, DeliveryState
from campaigns.segments.grammar import Checked, segment_check
from subscribers.models import (
    AttributeType,
    AttributeValue,
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    CustomerProfile,
    Subscription,
    SubscriptionStatus,
)

# A person's sign-up source is the source of their first marketing consent event that let them in.
WAYS_IN = (
    ConsentAction.REQUESTED,
    ConsentAction.CONFIRMED,
    ConsentAction.GIVEN,
    ConsentAction.IMPORTED,
    ConsentAction.RE_CONSENTED,
)
# The column each attribute type's values live in (the others stay empty).
COLUMN = {
    AttributeType.TEXT: "text",
    AttributeType.CHOICE: "text",
    AttributeType.NUMBER: "number",
    AttributeType.DATE: "date",
    AttributeType.BOOLEAN: "boolean",
}


def segment_q(definition, *, now: datetime | None = None) -> Q:
    """The subscribers ``definition`` selects, as a ``Q`` over ``Subscriber``. Checks it first (``SegmentError``).

    ``now`` fixes "the last N days" (default: now), so that every chunk of one send can use one moment.
    """
    checked = segment_check(definition)
    return _Compiler(checked, now=now or timezone.now()).node(checked.definition)


def received_in_window(*, days: int, now: datetime) -> QuerySet:
    """Deliveries accepted by SES in the last ``days`` days, not yet correlated with anyone."""
    return Delivery.objects.filter(state=DeliveryState.SENT, finished_at__gte=now - timedelta(days=days))


def at_least(rows: QuerySet, count: int) -> Exists:
    """True when ``rows`` has ``count`` rows or more: EXISTS over the count-th row (LIMIT 1 OFFSET count-1), which
    reads at most ``count`` index entries, where a COUNT(*) would read them all."""
    return Exists(rows.order_by()[count - 1 : count])


class _Compiler:
    def __init__(self, checked: Checked, *, now: datetime):
        self.checked, self.now = checked, now
        # Days are the shop's (SHOP_TIME_ZONE, as automations' date triggers), never the zone of whoever is looking:
        # the admin activates each staff member's own zone, and the count they see must be the audience the send
        # writes, in whatever process.
        self.today = timezone.localtime(now, _shop_zone()).date()

    def node(self, node: dict) -> Q:
        if "field" in node:
            return self.condition(node)
        kind, items = next(iter(node.items()))
        parts = [self.node(item) for item in items]
        if kind == "all":
            combined = Q()
            for part in parts:
                combined &= part
            return combined
        combined = parts[0]
        for part in parts[1:]:
            combined |= part
        return combined if kind == "any" else ~combined

    def condition(self, node: dict) -> Q:
        name, op, value = node["field"], node["op"], node.get("value")
        if name.startswith("attribute:"):
            return self.attribute(name.removeprefix("attribute:"), op, value)
        return getattr(self, "field_" + name.replace("profile:", "profile_"))(op, value)

    def attribute(self, key: str, op: str, value) -> Q:
        attribute = self.checked.attributes[key]
        column = COLUMN[attribute.type]
        values = AttributeValue.objects.filter(subscriber=OuterRef("pk"), attribute_id=attribute.pk)
        if op in ("is_set", "is_not_set"):
            present = values.exclude(text="") if column == "text" else values.filter(**{f"{column}__isnull": False})
            return Q(Exists(present)) if op == "is_set" else ~Q(Exists(present))
        if attribute.type == AttributeType.NUMBER:
            value = Decimal(str(value))
        if attribute.type == AttributeType.DATE and op != "within_days":
            value = date.fromisoformat(value)
        # "Is not X" is everyone whose value is not X, those with no value included.
        lookup = {
            "equals": ("exact", False),
            "not_equals": ("exact", True),
            "contains": ("icontains", False),
            "less_than": ("lt", False),
            "greater_than": ("gt", False),
            "before": ("lt", False),
            "after": ("gt", False),
            "one_of": ("in", False),
        }
        if op == "within_days":
            matching = values.filter(date__gte=self.today - timedelta(days=value), date__lte=self.today)
            return Q(Exists(matching))
        suffix, negated = lookup[op]
        matching = Q(Exists(values.filter(**{f"{column}__{suffix}": value})))
        return ~matching if negated else matching

    def field_topic(self, op: str, slug: str) -> Q:
        active = Subscription.objects.filter(
            subscriber=OuterRef("pk"), topic_id=self.checked.topics[slug], status=SubscriptionStatus.ACTIVE
        )
        return Q(Exists(active)) if op == "subscribed" else ~Q(Exists(active))

    def field_signed_up(self, op: str, value) -> Q:
        if op == "within_days":
            return Q(created_at__gte=self.now - timedelta(days=value))
        day = date.fromisoformat(value)
        # Before and after leave out the day itself: "after 1 March" starts on 2 March, in the shop's time zone.
        # The calendar's last day has no day after it: nobody signed up after it.
        if op == "before":
            return Q(created_at__lt=_midnight(day))
        if day == date.max:
            return Q(Value(False, output_field=BooleanField()))  # WHERE false, which SQL can embed
        return Q(created_at__gte=_midnight(day + timedelta(days=1)))

    def field_signup_source(self, op: str, value) -> Q:
        ways_in = ConsentEvent.objects.filter(purpose=ConsentPurpose.MARKETING, action__in=WAYS_IN)
        earlier = ways_in.filter(subscriber=OuterRef("subscriber")).filter(
            Q(occurred_at__lt=OuterRef("occurred_at")) | Q(occurred_at=OuterRef("occurred_at"), pk__lt=OuterRef("pk"))
        )
        sources = value if op == "one_of" else [value]
        first = ways_in.filter(subscriber=OuterRef("pk"), source__in=sources).exclude(Exists(earlier))
        return Q(Exists(first))

    def field_account(self, op: str, value: bool) -> Q:
        return Q(user__isnull=not value)

    def _profile(self, column: str, op: str, value: str) -> Q:
        lookup = "exact" if column == "country" and op == "equals" else ("iexact" if op == "equals" else "icontains")
        profiles = CustomerProfile.objects.filter(user_id=OuterRef("user_id"), **{f"{column}__{lookup}": value})
        return Q(Exists(profiles))

    def field_profile_country(self, op: str, value: str) -> Q:
        return self._profile("country", op, value)

    def field_profile_town(self, op: str, value: str) -> Q:
        return self._profile("town", op, value)

    def field_received(self, op: str, value) -> Q:
        if op == "campaign":
            sent = Delivery.objects.filter(subscriber=OuterRef("pk"), state=DeliveryState.SENT, send__page_id=value)
            return Q(Exists(sent))
        if op == "within_days":
            return Q(Exists(received_in_window(days=value, now=self.now).filter(subscriber=OuterRef("pk"))))
        recent = received_in_window(days=value["days"], now=self.now).filter(subscriber=OuterRef("pk"))
        return ~Q(at_least(recent, value["count"]))


def _shop_zone() -> ZoneInfo:
    return ZoneInfo(settings.SHOP_TIME_ZONE)


def _midnight(day: date) -> datetime:
    """The start of ``day`` in the shop's time zone (SHOP_TIME_ZONE), whichever zone is active."""
    return timezone.make_aware(datetime.combine(day, time.min), _shop_zone())
