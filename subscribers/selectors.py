"""Reads. Views and services ask these; nothing here changes state."""

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .addresses import address_hmac, email_normalise
from .models import (
    PrivacyPolicyVersion,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
)


def policy_version_current() -> PrivacyPolicyVersion | None:
    """The privacy policy version in force now: the latest one already published."""
    return PrivacyPolicyVersion.objects.filter(published_at__lte=timezone.now()).order_by("-published_at").first()


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


def subscriptions_for_subscriber(*, subscriber: Subscriber) -> dict[int, Subscription]:
    """The subscriber's subscriptions keyed by topic id."""
    return {s.topic_id: s for s in subscriber.subscriptions.select_related("topic")}


def suppressions_for_email(*, email: str) -> list[Suppression]:
    return list(Suppression.objects.filter(address_hmac=address_hmac(email)))


def email_is_suppressed(*, email: str, scopes: tuple[str, ...]) -> bool:
    return Suppression.objects.filter(address_hmac=address_hmac(email), scope__in=scopes).exists()


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
