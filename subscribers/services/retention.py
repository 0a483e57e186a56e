"""Retention: what is kept only for a while is removed when its time is up (run daily by Celery beat).

Opt-ins never confirmed: after ``RETENTION_PENDING_OPT_IN_DAYS`` the pending subscriptions are deleted, and a
subscriber left with nothing (no subscription, no account, never a confirmed address) is deleted too, their
consent events anonymised. Nobody is tombstoned: they never agreed to anything, so nothing needs suppressing.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import ConsentEvent, Subscriber, Subscription, SubscriptionStatus


def pending_opt_ins_purge() -> dict[str, int]:
    cutoff = timezone.now() - timedelta(days=settings.RETENTION_PENDING_OPT_IN_DAYS)
    with transaction.atomic():
        stale = Subscription.objects.filter(
            Q(requested_at__lt=cutoff) | Q(requested_at__isnull=True), status=SubscriptionStatus.PENDING
        )
        subscriber_ids = set(stale.values_list("subscriber_id", flat=True))
        subscriptions, _ = stale.delete()
        orphans = Subscriber.objects.filter(
            pk__in=subscriber_ids, user__isnull=True, email_confirmed_at__isnull=True, subscriptions__isnull=True
        )
        ConsentEvent.objects.filter(subscriber__in=orphans).anonymise()
        subscribers = orphans.count()
        Subscriber.objects.filter(pk__in=list(orphans.values_list("pk", flat=True))).delete()
    return {"pending_subscriptions": subscriptions, "subscribers": subscribers}
