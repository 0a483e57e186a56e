"""The set-based half of an import: good rows go into a temporary staging table (PostgreSQL COPY; on SQLite,
executemany in chunks), then a few INSERT ... SELECT statements write subscribers, subscriptions and consent events,
and the report's counts come from SQL. The same statements run on both databases.

Tables: ``import_rows`` (what the file said, one row per good line), ``import_plan`` (each row's outcome, decided
in one statement: duplicate, suppressed, already active, unsubscribed earlier, pending, new), ``import_new`` (the
rows that become active subscriptions, with their subscriber's id once it exists).
"""

from django.db import connection

from ...models import (
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    ConsentSource,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionScope,
)
from .rows import STAGING_COLUMNS

SQLITE_CHUNK = 5000
OUTCOMES = ("duplicate", "suppressed", "active", "unsubscribed", "pending", "new")

STAGING_DDL = """
CREATE TEMP TABLE import_rows (
    line integer NOT NULL, email text NOT NULL, email_key text NOT NULL, email_alt text, hmac text NOT NULL,
    hmac_alt text, first_name text NOT NULL, topic_id bigint NOT NULL, basis text NOT NULL,
    consented_at timestamp with time zone, policy_version_id bigint, wording_hash text NOT NULL, detail text NOT NULL
)
"""


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _uuid_sql() -> str:
    # SQLite has no UUID function: 16 random bytes as 32 hex digits, the form Django stores a UUIDField in there.
    return "gen_random_uuid()" if _postgres() else "lower(hex(randomblob(16)))"


def _scopes_sql() -> str:
    """The suppression scopes that keep an address from being imported, as an SQL list."""
    return f"('{SuppressionScope.MARKETING}', '{SuppressionScope.ALL}')"


def staging_create() -> None:
    with connection.cursor() as cursor:
        for table in ("import_rows", "import_plan", "import_new"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(STAGING_DDL)


class StagingWriter:
    """A context manager taking good rows one at a time: COPY on PostgreSQL, executemany in chunks on SQLite."""

    def __enter__(self):
        self._cursor = connection.cursor()
        columns = ", ".join(STAGING_COLUMNS)
        if _postgres():
            self._copy_cm = self._cursor.cursor.copy(f"COPY import_rows ({columns}) FROM STDIN")
            copy = self._copy_cm.__enter__()
            self.add = copy.write_row
        else:
            self._copy_cm = None
            self._chunk: list[tuple] = []
            placeholders = ", ".join(["%s"] * len(STAGING_COLUMNS))
            self._insert = f"INSERT INTO import_rows ({columns}) VALUES ({placeholders})"  # noqa: S608
            self.add = self._add_sqlite
        return self

    def _add_sqlite(self, row: tuple) -> None:
        at = STAGING_COLUMNS.index("consented_at")
        if row[at] is not None:
            row = (*row[:at], connection.ops.adapt_datetimefield_value(row[at]), *row[at + 1 :])
        self._chunk.append(row)
        if len(self._chunk) >= SQLITE_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._chunk:
            self._cursor.executemany(self._insert, self._chunk)
            self._chunk = []

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._copy_cm is not None:
                return self._copy_cm.__exit__(exc_type, exc, tb)
            if exc_type is None:
                self._flush()
            return False
        finally:
            self._cursor.close()


def plan_build() -> dict[str, int]:
    """Decide every staged row's outcome in one statement; return the counts the report shows."""
    subscriber, subscription = Subscriber._meta.db_table, Subscription._meta.db_table
    suppression = Suppression._meta.db_table
    scopes = _scopes_sql()
    with connection.cursor() as cursor:
        if _postgres():
            cursor.execute("ANALYZE import_rows")  # temporary tables are never analysed automatically
            cursor.execute("SET LOCAL work_mem = '64MB'")  # sorts and hashes over a million rows stay in memory
        cursor.execute(
            f"""
            CREATE TEMP TABLE import_plan AS
            SELECT r.line, r.email, r.email_key, r.hmac, r.first_name, r.topic_id, r.basis, r.consented_at,
                   r.policy_version_id, r.wording_hash, r.detail,
                   COALESCE(s1.id, s2.id) AS subscriber_id,
                   CASE
                       WHEN r.nth > 1 THEN 'duplicate'
                       WHEN x1.address_hmac IS NOT NULL OR x2.address_hmac IS NOT NULL THEN 'suppressed'
                       ELSE COALESCE(sn.status, 'new')
                   END AS outcome
            FROM (
                SELECT import_rows.*, row_number() OVER (PARTITION BY email_key, topic_id ORDER BY line) AS nth
                FROM import_rows
            ) r
            LEFT JOIN {subscriber} s1 ON s1.email = r.email
            LEFT JOIN {subscriber} s2 ON r.email_alt IS NOT NULL AND s2.email = r.email_alt
            LEFT JOIN (SELECT DISTINCT address_hmac FROM {suppression} WHERE scope IN {scopes}) x1
                ON x1.address_hmac = r.hmac
            LEFT JOIN (SELECT DISTINCT address_hmac FROM {suppression} WHERE scope IN {scopes}) x2
                ON r.hmac_alt IS NOT NULL AND x2.address_hmac = r.hmac_alt
            LEFT JOIN {subscription} sn ON sn.subscriber_id = COALESCE(s1.id, s2.id) AND sn.topic_id = r.topic_id
            """  # noqa: S608 - table names come from the models; every value is a parameter
        )
        cursor.execute("SELECT outcome, COUNT(*) FROM import_plan GROUP BY outcome")
        counts = {outcome: 0 for outcome in OUTCOMES}
        counts.update(dict(cursor.fetchall()))
        cursor.execute(
            "SELECT COUNT(DISTINCT email_key) FROM import_plan WHERE outcome = 'new' AND subscriber_id IS NULL"
        )
        counts["new_subscribers"] = cursor.fetchone()[0]
    return counts


def plan_write(*, now, policy_version_id: int | None) -> dict[str, int]:
    """Write what the plan decided: new subscribers, new and newly active subscriptions, one consent event each."""
    subscriber, subscription = Subscriber._meta.db_table, Subscription._meta.db_table
    now = connection.ops.adapt_datetimefield_value(now)
    active = SubscriptionStatus.ACTIVE
    # Checked again as each subscription is written, not only when the plan was made: an unsubscribe from
    # everything, a complaint or an erasure may have committed in between, and must win.
    # Two conditions rather than one with OR, so that PostgreSQL answers them with an anti-join, not a lookup per row.
    suppressed = f"SELECT 1 FROM {Suppression._meta.db_table} x WHERE x.scope IN {_scopes_sql()} AND x.address_hmac"  # noqa: S608
    not_suppressed = (
        f"NOT EXISTS ({suppressed} = n.hmac) AND (n.hmac_alt IS NULL OR NOT EXISTS ({suppressed} = n.hmac_alt))"
    )
    written = {}
    with connection.cursor() as cursor:
        # The first row of each new address creates its subscriber (an existing one is never changed). In address
        # order, so that the two indexes on the address fill page by page rather than at random places.
        cursor.execute(
            f"""
            INSERT INTO {subscriber} (email, address_hmac, first_name, public_id, created_at)
            SELECT email, hmac, first_name, {_uuid_sql()}, %s FROM import_plan
            WHERE line IN (
                SELECT MIN(line) FROM import_plan WHERE outcome = 'new' AND subscriber_id IS NULL GROUP BY email_key
            )
            ORDER BY email
            ON CONFLICT (email) DO NOTHING
            """,  # noqa: S608 - table names come from the models; every value is a parameter
            [now],
        )
        written["subscribers_created"] = cursor.rowcount
        cursor.execute(
            f"""
            CREATE TEMP TABLE import_new AS
            SELECT p.line, p.outcome, COALESCE(p.subscriber_id, s1.id, s2.id) AS subscriber_id, p.topic_id, p.basis,
                   p.consented_at, p.policy_version_id, p.wording_hash, p.detail, r.hmac, r.hmac_alt
            FROM import_plan p
            JOIN import_rows r ON r.line = p.line
            LEFT JOIN {subscriber} s1 ON p.subscriber_id IS NULL AND s1.email = r.email
            LEFT JOIN {subscriber} s2 ON p.subscriber_id IS NULL AND r.email_alt IS NOT NULL AND s2.email = r.email_alt
            WHERE p.outcome IN ('new', 'pending')
            """  # noqa: S608 - table names come from the models; every value is a parameter
        )
        cursor.execute(
            f"""
            INSERT INTO {subscription} (subscriber_id, topic_id, status, lawful_basis, public_id, confirm_nonce_hash,
                                        confirmed_at)
            SELECT subscriber_id, topic_id, '{active}', basis, {_uuid_sql()}, '', COALESCE(consented_at, %s)
            FROM import_new n WHERE outcome = 'new' AND {not_suppressed}
            ON CONFLICT (subscriber_id, topic_id) DO NOTHING
            """,  # noqa: S608 - table names come from the models; every value is a parameter
            [now],
        )
        written["subscriptions_created"] = cursor.rowcount
        cursor.execute(
            f"""
            UPDATE {subscription}
            SET status = '{active}', lawful_basis = n.basis, confirmed_at = COALESCE(n.consented_at, %s),
                unsubscribed_at = NULL, confirm_nonce_hash = ''
            FROM import_new n
            WHERE n.outcome = 'pending' AND {subscription}.subscriber_id = n.subscriber_id
              AND {subscription}.topic_id = n.topic_id AND {subscription}.status = 'pending' AND {not_suppressed}
            """,  # noqa: S608 - table names come from the models; every value is a parameter
            [now],
        )
        written["subscriptions_activated"] = cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO {ConsentEvent._meta.db_table} (subscriber_id, topic_id, purpose, action, source, occurred_at,
                                                      policy_version_id, wording_hash, detail)
            SELECT subscriber_id, topic_id, '{ConsentPurpose.MARKETING}', '{ConsentAction.IMPORTED}',
                   '{ConsentSource.IMPORT}', %s, COALESCE(policy_version_id, %s), wording_hash, detail
            FROM import_new n
            WHERE EXISTS (
                SELECT 1 FROM {subscription} s
                WHERE s.subscriber_id = n.subscriber_id AND s.topic_id = n.topic_id AND s.status = '{active}'
                  AND s.confirmed_at = COALESCE(n.consented_at, %s)
            )
            ORDER BY line
            """,  # noqa: S608 - table names come from the models; every value is a parameter
            [now, policy_version_id, now],
        )
        # One event per subscription actually written: a row that a concurrent change made the import skip (the
        # person subscribed or was suppressed meanwhile) gets none, so the ledger never contradicts the subscriptions.
        written["consent_events"] = cursor.rowcount
    return written


def staging_drop() -> None:
    """Drop the import's temporary tables: the staging table (written outside the import's transaction, so it
    outlives it) and the two the transaction made, which a commit keeps."""
    with connection.cursor() as cursor:
        for table in ("import_rows", "import_plan", "import_new"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
