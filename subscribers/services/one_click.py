"""The RFC 8058 one-click unsubscribe: a mailbox provider's POST, answered only once the withdrawal is committed.

It is the same withdrawal as ``subscription_withdraw`` (the subscription unsubscribed, one consent event, the
``subscription.withdrawn`` event for whoever listens, nothing when already done), made thousands of times a second
after a large send. Its cost was round trips and query building, not work: a lookup, a transaction, a locked
re-read, an update, the policy version, the event, the listeners, a commit (docs/BENCHMARKS.md, "Public endpoints
under load"). So, on PostgreSQL and when no publisher listens to withdrawals, it is one statement: the conditional
UPDATE and the INSERT of its consent event in one writable CTE, the policy version in force chosen inside it. A single
statement is its own transaction: both rows are committed (and on disk, with PostgreSQL's synchronous commit) when
it returns, or neither is. Nothing is left for later, so nothing can be lost if the process dies.

When something listens (a webhook endpoint that wants withdrawals), or on SQLite, it takes the general route,
``subscription_withdraw``, which writes the listeners' rows in its transaction. Whether anyone listens is asked just
before the statement; an endpoint enabled in between misses this one withdrawal, as it would had it been enabled
between the listeners' query and the commit inside ``subscription_withdraw``.
"""

import uuid

from django.db import connection
from django.utils import timezone

from ..addresses import ip_truncate
from ..models import (
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    ConsentSource,
    PrivacyPolicyVersion,
    Subscription,
    SubscriptionStatus,
)
from ..outbound import outbound_event_listened
from .subscriptions import subscription_withdraw

ONE_CLICK_REASON = "one-click"

_WITHDRAW_WITH_EVENT = f"""
    WITH withdrawn AS (
        UPDATE {Subscription._meta.db_table}
           SET status = %(unsubscribed)s, unsubscribed_at = %(now)s, confirm_nonce_hash = ''
         WHERE public_id = %(public_id)s AND status <> %(unsubscribed)s
        RETURNING subscriber_id, topic_id
    )
    INSERT INTO {ConsentEvent._meta.db_table}
        (subscriber_id, topic_id, purpose, action, source, occurred_at, policy_version_id, wording_hash,
         ip_truncated, detail)
    SELECT subscriber_id, topic_id, %(purpose)s, %(action)s, %(source)s, %(now)s,
           (SELECT id FROM {PrivacyPolicyVersion._meta.db_table}
             WHERE published_at <= %(now)s ORDER BY published_at DESC LIMIT 1),
           '', %(ip)s::inet, %(detail)s
      FROM withdrawn
"""  # noqa: S608 - table names come from the models; every value is a parameter


def subscription_withdraw_one_click(*, public_id: uuid.UUID, ip: str | None = None) -> bool:
    """Withdraw the subscription with this public id (from a signed link), source one-click, committed on return.
    Idempotent: a second click changes nothing and records nothing. False when no subscription has the id."""
    if connection.vendor != "postgresql" or outbound_event_listened(type="subscription.withdrawn"):
        subscription = Subscription.objects.select_related("subscriber", "topic").filter(public_id=public_id).first()
        if subscription is None:
            return False
        subscription_withdraw(subscription=subscription, source=ConsentSource.ONE_CLICK, ip=ip, reason=ONE_CLICK_REASON)
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            _WITHDRAW_WITH_EVENT,
            {
                "public_id": public_id,
                "unsubscribed": SubscriptionStatus.UNSUBSCRIBED.value,
                "now": timezone.now(),
                "purpose": ConsentPurpose.MARKETING.value,
                "action": ConsentAction.WITHDRAWN.value,
                "source": ConsentSource.ONE_CLICK.value,
                "ip": ip_truncate(ip),
                "detail": ONE_CLICK_REASON,
            },
        )
        if cursor.rowcount:
            return True
    # Nothing withdrawn: already unsubscribed (a second click), or no such subscription (the rare case pays this).
    return Subscription.objects.filter(public_id=public_id).exists()
