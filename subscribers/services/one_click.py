"""The RFC 8058 one-click unsubscribe: a mailbox provider's POST, answered only once the withdrawal is committed.

It is the same withdrawal as ``subscription_withdraw`` (the subscription unsubscribed, one consent event, the
``subscription.withdrawn`` event for whoever listens, nothing when already done), made thousands of times a second
after a large send. Its cost was round trips, query building and planning, not work (docs/BENCHMARKS.md, "Public
endpoints under load"). So, on PostgreSQL, it is one statement, in one round trip: whether any publisher listens to
withdrawals (``outbound_event_listened_sql``), and when none does, the conditional UPDATE and the INSERT of its
consent event in one writable CTE, the policy version in force chosen inside it. A single statement is its own
transaction: both rows are committed (and on disk, with PostgreSQL's synchronous commit) when it returns, or neither
is. Nothing is left for later, so nothing can be lost if the process dies.

The statement is prepared on each connection the first time (PostgreSQL then plans it once per connection, not per
request: planning the CTE took as long as running it) and sent without Django's per-request health check of the
connection (one ``SELECT 1`` round trip): a connection found broken is replaced and the statement sent once more,
which is safe because it changes nothing the second time if the first had committed.

When something listens (a webhook endpoint that wants withdrawals), or on SQLite, it takes the general route,
``subscription_withdraw``, which writes the listeners' rows in its transaction. The statement changes nothing when
it finds a listener, in the same snapshot as its UPDATE; an endpoint enabled after that snapshot misses this one
withdrawal, as it would had it been enabled between the listeners' query and the commit of
``subscription_withdraw``.
"""

import uuid

import psycopg
from django.db import DatabaseError, connection
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
from ..outbound import outbound_event_listened_sql
from .subscriptions import subscription_withdraw

ONE_CLICK_REASON = "one-click"
PREPARE_ONLY_WHEN_ASKED = 2**31 - 1

_WITHDRAW_WITH_EVENT = f"""
    WITH listened AS (SELECT {{listened}} AS yes),
    withdrawn AS (
        UPDATE {Subscription._meta.db_table}
           SET status = %(unsubscribed)s, unsubscribed_at = %(now)s, confirm_nonce_hash = ''
         WHERE public_id = %(public_id)s AND status <> %(unsubscribed)s AND NOT (SELECT yes FROM listened)
        RETURNING subscriber_id, topic_id
    ),
    recorded AS (
        INSERT INTO {ConsentEvent._meta.db_table}
            (subscriber_id, topic_id, purpose, action, source, occurred_at, policy_version_id, wording_hash,
             ip_truncated, detail)
        SELECT subscriber_id, topic_id, %(purpose)s, %(action)s, %(source)s, %(now)s,
               (SELECT id FROM {PrivacyPolicyVersion._meta.db_table}
                 WHERE published_at <= %(now)s ORDER BY published_at DESC LIMIT 1),
               '', %(ip)s::inet, %(detail)s
          FROM withdrawn
        RETURNING 1
    )
    SELECT (SELECT yes FROM listened),
           EXISTS (SELECT 1 FROM recorded),
           EXISTS (SELECT 1 FROM {Subscription._meta.db_table} WHERE public_id = %(public_id)s)
"""  # noqa: S608 - table names come from the models, the listeners' condition from their publishers; values are parameters


def subscription_withdraw_one_click(*, public_id: uuid.UUID, ip: str | None = None) -> bool:
    """Withdraw the subscription with this public id (from a signed link), source one-click, committed on return.
    Idempotent: a second click changes nothing and records nothing. False when no subscription has the id."""
    if connection.vendor == "postgresql":
        listened_sql, listened_params = outbound_event_listened_sql(type="subscription.withdrawn")
        listened, withdrawn, known = _statement_run(
            _WITHDRAW_WITH_EVENT.format(listened=listened_sql),
            {
                **listened_params,
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
        if not listened:
            # Withdrawn now, or already unsubscribed (a second click), or no such subscription.
            return withdrawn or known
    subscription = Subscription.objects.select_related("subscriber", "topic").filter(public_id=public_id).first()
    if subscription is None:
        return False
    subscription_withdraw(subscription=subscription, source=ConsentSource.ONE_CLICK, ip=ip, reason=ONE_CLICK_REASON)
    return True


def _statement_run(sql: str, params: dict) -> tuple:
    """The one row of ``sql``, prepared on this connection, in one round trip. Django's cursors bind values on the
    client (so PostgreSQL would plan the statement every time) and check the connection with a ``SELECT 1`` first;
    a psycopg cursor of our own binds on the server and is prepared once per connection. A persistent connection the
    server has dropped (a restart, an idle timeout) is what the health check would have caught: it is replaced, and
    the statement sent once more."""
    for attempt in (1, 2):
        connection.ensure_connection()
        raw = connection.connection
        if raw.prepare_threshold is None:
            # Django turns psycopg's preparing off, which refuses even a statement asked for by name (``prepare=True``
            # below). Its own cursors bind on the client and are never prepared, whatever this says; with a threshold
            # no statement reaches, only what asks is prepared.
            raw.prepare_threshold = PREPARE_ONLY_WHEN_ASKED
        try:
            with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
                cursor.execute(sql, params, prepare=True)
                return cursor.fetchone()
        except DatabaseError:
            if attempt == 2 or not raw.broken or connection.in_atomic_block:
                raise
            connection.close()
    raise AssertionError("unreachable")
