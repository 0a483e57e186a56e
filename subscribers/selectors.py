"""Reads. Views and services ask these; nothing here changes state."""

from datetime import date, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .addresses import address_hmac, email_normalise
from .attributevalues import stored_value
from .models import (
    Attribute,
    AttributeValue,
    Disclosure,
    DisclosureRecipient,
    LawfulBasis,
    Partner,
    PrivacyPolicyVersion,
    RightsRequest,
    RightsRequestKind,
    RightsRequestStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
)


def _policy_versions_in_force() -> QuerySet[PrivacyPolicyVersion]:
    return PrivacyPolicyVersion.objects.filter(published_at__lte=timezone.now()).order_by("-published_at")


def policy_version_current() -> PrivacyPolicyVersion | None:
    """The privacy policy version in force now: the latest one already published."""
    return _policy_versions_in_force().first()


def policy_version_current_id() -> int | None:
    """The id of the version in force now, which every consent event names: without the policy's text, which an
    event does not need and which every unsubscribe used to fetch."""
    return _policy_versions_in_force().values_list("pk", flat=True).first()


def topic_default() -> Topic:
    """General Subscription (or whichever topic staff made the default)."""
    return Topic.objects.get(is_default=True)


def topics_offered() -> QuerySet[Topic]:
    return Topic.objects.filter(is_active=True)


def subscriber_by_email(*, email: str) -> Subscriber | None:
    return Subscriber.objects.filter(email=email_normalise(email)).first()


def account_subscriber(*, user) -> Subscriber | None:
    """The mailing-list record of an account; None until the account has proven its address."""
    return Subscriber.objects.filter(user=user).first()


def address_proof_opt_ins(*, email: str, address_proof: str) -> list[Subscription]:
    """The opt-ins (ticked at registration) that the address confirmation link with nonce hash
    ``address_proof`` confirms too, default topic first."""
    return list(
        Subscription.objects.filter(
            subscriber__email=email_normalise(email),
            status=SubscriptionStatus.PENDING,
            confirm_nonce_hash=address_proof,
        )
        .select_related("topic")
        .order_by("-topic__is_default", "topic__position", "topic__name")
    )


def active_topic_ids_by_subscriber(*, subscriber_ids: list[int], topic_ids: list[int]) -> dict[int, set[int]]:
    """{subscriber id: ids of their active subscriptions among ``topic_ids``}, in one query (a send's batch asks
    this once for all its recipients). Subscribers with none are absent."""
    found: dict[int, set[int]] = {}
    rows = Subscription.objects.filter(
        subscriber_id__in=subscriber_ids, topic_id__in=topic_ids, status=SubscriptionStatus.ACTIVE
    ).values_list("subscriber_id", "topic_id")
    for subscriber_id, topic_id in rows.order_by():
        found.setdefault(subscriber_id, set()).add(topic_id)
    return found


def subscriptions_for_subscriber(*, subscriber: Subscriber) -> dict[int, Subscription]:
    """The subscriber's subscriptions keyed by topic id."""
    return {s.topic_id: s for s in subscriber.subscriptions.select_related("topic")}


def suppressions_for_email(*, email: str) -> list[Suppression]:
    return list(Suppression.objects.filter(address_hmac=address_hmac(email)))


def email_is_suppressed(*, email: str, scopes: tuple[str, ...]) -> bool:
    return Suppression.objects.filter(address_hmac=address_hmac(email), scope__in=scopes).exists()


def marketing_stopped(*, email: str) -> bool:
    """Whether the address receives no marketing email at all (unsubscribed from everything, or suppressed)."""
    return email_is_suppressed(email=email, scopes=(SuppressionScope.MARKETING, SuppressionScope.ALL))


def topics_receiving(*, subscriber: Subscriber) -> list[Topic]:
    """The topics the subscriber still receives (active subscriptions), in the order the pages list topics."""
    return list(
        Topic.objects.filter(subscriptions__subscriber=subscriber, subscriptions__status=SubscriptionStatus.ACTIVE)
    )


def email_hard_bounced(*, email: str) -> bool:
    return Suppression.objects.filter(address_hmac=address_hmac(email), reason=SuppressionReason.BOUNCE).exists()


def marketing_suppressions_needing_explicit_request(*, email: str) -> list[Suppression]:
    """Suppressions that a confirmed opt-in alone does not lift (complaints and erasures)."""
    return list(
        Suppression.objects.filter(
            address_hmac=address_hmac(email),
            scope__in=(SuppressionScope.MARKETING, SuppressionScope.ALL),
            reason__in=(SuppressionReason.COMPLAINT, SuppressionReason.ERASED, SuppressionReason.MANUAL),
        )
    )


def third_party_objection_exists(*, email: str) -> bool:
    return email_is_suppressed(email=email, scopes=(SuppressionScope.THIRD_PARTY, SuppressionScope.ALL))


def topic_subscription_counts() -> QuerySet[Topic]:
    """Every topic with its number of active and pending subscriptions (for the dashboard panel)."""
    return Topic.objects.annotate(
        active_count=Count("subscriptions", filter=Q(subscriptions__status=SubscriptionStatus.ACTIVE)),
        pending_count=Count("subscriptions", filter=Q(subscriptions__status=SubscriptionStatus.PENDING)),
    ).order_by(*Topic._meta.ordering)


# Requests to exercise a data-protection right ------------------------------------------------------------------------

# An open request whose deadline is at most this many days away is "due soon" on the list and the dashboard.
RIGHTS_REQUEST_DUE_SOON_DAYS = 7


def rights_requests_open(*, today: date | None = None) -> list[RightsRequest]:
    """Open requests, the nearest deadline first, each with its days left and urgency (see
    ``rights_request_with_days_left``)."""
    today = today or timezone.localdate()
    requests = (
        RightsRequest.objects.filter(status=RightsRequestStatus.OPEN)
        .select_related("subscriber")
        .order_by("deadline", "received_on", "pk")
    )
    return [rights_request_with_days_left(rights_request=request, today=today) for request in requests]


def rights_request_with_days_left(*, rights_request: RightsRequest, today: date | None = None) -> RightsRequest:
    """The request with ``days_left`` until its deadline (negative once overdue), ``days_overdue``, and ``urgency``:
    "overdue", "due_soon" (within ``RIGHTS_REQUEST_DUE_SOON_DAYS``) or "" (also for a closed request)."""
    today = today or timezone.localdate()
    rights_request.days_left = (rights_request.deadline - today).days
    rights_request.days_overdue = max(0, -rights_request.days_left)
    if rights_request.status != RightsRequestStatus.OPEN:
        rights_request.urgency = ""
    elif rights_request.days_left < 0:
        rights_request.urgency = "overdue"
    elif rights_request.days_left <= RIGHTS_REQUEST_DUE_SOON_DAYS:
        rights_request.urgency = "due_soon"
    else:
        rights_request.urgency = ""
    return rights_request


def rights_request_erasable(*, rights_request: RightsRequest) -> bool:
    """Whether "Erase this person now" applies: an open erasure request about a subscriber we still hold."""
    return (
        rights_request.status == RightsRequestStatus.OPEN
        and rights_request.kind == RightsRequestKind.ERASURE
        and rights_request.subscriber_id is not None
    )


def rights_requests_closed() -> QuerySet[RightsRequest]:
    """Closed requests (done or refused), the most recently closed first."""
    return RightsRequest.objects.exclude(status=RightsRequestStatus.OPEN).order_by("-closed_at", "-pk")


def rights_request_counts(*, today: date | None = None) -> dict[str, int]:
    """For the dashboard: open requests, those due within ``RIGHTS_REQUEST_DUE_SOON_DAYS`` and those overdue."""
    today = today or timezone.localdate()
    soon = today + timedelta(days=RIGHTS_REQUEST_DUE_SOON_DAYS)
    return RightsRequest.objects.filter(status=RightsRequestStatus.OPEN).aggregate(
        open=Count("pk"),
        due_soon=Count("pk", filter=Q(deadline__gte=today, deadline__lte=soon)),
        overdue=Count("pk", filter=Q(deadline__lt=today)),
    )


# Partner exports: who may be shared with a partner, and who is left out and why -------------------------------------

# A partner export leaves out an address suppressed on any scope: an objection to sharing (third_party), an erasure,
# hard bounce or anything else for everything (all), and marketing (an unsubscribe from everything or a complaint),
# since details shared with a partner are used to market to the person.


def _partner_export_reasons() -> dict[str, Q]:
    """Which subscriptions of a topic would be in a partner export, and why each other one is left out. The reasons
    are checked in this order, so a person who both objected and unsubscribed is counted once, as an objector."""
    suppressions = Suppression.objects.filter(address_hmac=OuterRef("subscriber__address_hmac"))
    objected = Q(Exists(suppressions.filter(scope=SuppressionScope.THIRD_PARTY)))
    # An address whose HMAC is missing cannot be checked against the list, so it counts as suppressed.
    suppressed = Q(Exists(suppressions.filter(scope__in=(SuppressionScope.ALL, SuppressionScope.MARKETING)))) | Q(
        subscriber__address_hmac=""
    )
    confirmed = Q(status=SubscriptionStatus.ACTIVE, confirmed_at__isnull=False)
    clear = ~objected & ~suppressed
    return {
        "included": clear & confirmed & Q(lawful_basis=LawfulBasis.CONSENT),
        "objected": objected,
        "suppressed": ~objected & suppressed,
        "not_active": clear & ~confirmed,
        "soft_opt_in": clear & confirmed & Q(lawful_basis=LawfulBasis.SOFT_OPT_IN),
    }


def partner_export_eligible(*, topic: Topic) -> QuerySet[Subscription]:
    """The subscriptions whose subscribers may be in a partner export for this topic, as one SQL query.

    Only an active subscription whose consent was confirmed, on the lawful basis of consent (a soft opt-in covers
    the shop's own similar products, never sharing), for an address not suppressed on any scope. One subscription
    per subscriber and topic, so one row per person.
    """
    included = _partner_export_reasons()["included"]
    return Subscription.objects.filter(included, topic=topic).order_by("subscriber_id")


def partner_export_summary(*, topic: Topic) -> dict[str, int]:
    """For the confirmation step, in one query: how many people a partner export of this topic would include, and
    how many on the topic are left out, by reason (the keys of ``_partner_export_reasons``)."""
    counts = {name: Count("pk", filter=reason) for name, reason in _partner_export_reasons().items()}
    return Subscription.objects.filter(topic=topic).order_by().aggregate(**counts)


def partners_active() -> QuerySet[Partner]:
    return Partner.objects.filter(is_active=True)


def disclosures_for_subscriber(*, subscriber_id: int) -> QuerySet[Disclosure]:
    """The disclosures a person's details were in, oldest first (for their copy of their data): those naming the
    subscriber, and those naming their account, which may have been handed over before the subscriber existed."""
    named = DisclosureRecipient.objects.filter(
        Q(subscriber_id=subscriber_id) | Q(user__subscriber__pk=subscriber_id)
    ).values("disclosure_id")
    return Disclosure.objects.filter(pk__in=named).select_related("topic").order_by("made_at", "pk")


# Privacy policy versions ---------------------------------------------------------------------------------------------


def policy_versions_published(*, now=None) -> QuerySet[PrivacyPolicyVersion]:
    """Versions already in force or superseded (published_at has passed), the newest first."""
    return PrivacyPolicyVersion.objects.filter(published_at__lte=now or timezone.now()).order_by("-published_at")


def policy_versions_upcoming(*, now=None) -> QuerySet[PrivacyPolicyVersion]:
    """Versions recorded to take effect later, the soonest first."""
    return PrivacyPolicyVersion.objects.filter(published_at__gt=now or timezone.now()).order_by("published_at")


def policy_version_by_number(*, version: str) -> PrivacyPolicyVersion | None:
    return PrivacyPolicyVersion.objects.filter(version=version).first()


def policy_version_superseded_at(*, version: PrivacyPolicyVersion):
    """When the next version took (or takes) effect; None while ``version`` is the latest."""
    following = PrivacyPolicyVersion.objects.filter(published_at__gt=version.published_at).order_by("published_at")
    return following.values_list("published_at", flat=True).first()


def policy_notice_for(*, user) -> PrivacyPolicyVersion | None:
    """The version in force when ``user`` should be told it changed, else None.

    Told when it took effect after they registered (whoever registered under it agreed to it then) and they
    have not acknowledged it. Acknowledging an earlier version does not count: each change is news.
    """
    current = policy_version_current()
    if current is None or not user.is_authenticated or current.published_at <= user.date_joined:
        return None
    if current.acknowledgements.filter(user=user).exists():
        return None
    return current


def attributes_declared() -> QuerySet[Attribute]:
    """Every declared attribute, in the admin's order (position, then label)."""
    return Attribute.objects.all()


def attribute_values_by_subscriber(*, subscriber_ids: list[int]) -> dict[int, dict[str, object]]:
    """{subscriber id: {key: typed value}} for these subscribers, in one query (a page of the API's list)."""
    values: dict[int, dict[str, object]] = {subscriber_id: {} for subscriber_id in subscriber_ids}
    rows = (
        AttributeValue.objects.filter(subscriber_id__in=subscriber_ids)
        .select_related("attribute")
        .order_by("attribute__position", "attribute__label")
    )
    for row in rows:
        values[row.subscriber_id][row.attribute.key] = stored_value(row)
    return values


def subscriber_attribute_values(*, subscriber: Subscriber) -> dict[str, object]:
    """{key: typed value} of the attributes the subscriber holds a value of, in the admin's order."""
    return attribute_values_by_subscriber(subscriber_ids=[subscriber.pk])[subscriber.pk]
