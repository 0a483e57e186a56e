"""Retention: what is kept only for a while is removed when its time is up (run daily by Celery beat).

Opt-ins never confirmed: after ``RETENTION_PENDING_OPT_IN_DAYS`` the pending subscriptions are deleted, and a
subscriber left with nothing (no subscription, no account, never a confirmed address) is deleted too, their
consent events anonymised. Nobody is tombstoned: they never agreed to anything, so nothing needs suppressing.
A subscriber another transaction holds (an import writing to them) is left for the next day's run.
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
        # Subscriber first, then their subscriptions: the order every writer locks in (an erasure, an import), so
        # that none of them deadlocks with the purge. One that is locked (being imported into, say) is left for
        # the next run.
        subscriber_ids = set(
            Subscriber.objects.select_for_update(skip_locked=True)
            .filter(pk__in=stale.values("subscriber_id"))
            .values_list("pk", flat=True)
        )
        stale = stale.filter(subscriber_id__in=subscriber_ids)
        subscriptions, _ = stale.delete()
        orphans = Subscriber.objects.filter(
            pk__in=subscriber_ids, user__isnull=True, email_confirmed_at__isnull=True, subscriptions__isnull=True
        )
        ConsentEvent.objects.filter(subscriber__in=orphans).anonymise()
        subscribers = orphans.count()
        Subscriber.objects.filter(pk__in=list(orphans.values_list("pk", flat=True))).delete()
    return {"pending_subscriptions": subscriptions, "subscribers": subscribers}
