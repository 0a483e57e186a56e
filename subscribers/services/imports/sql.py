"""The set-based half of an import: good rows go into a temporary staging table (PostgreSQL COPY; on SQLite,
executemany in chunks), then a few INSERT ... SELECT statements write subscribers, subscriptions and consent events,
and the report's counts come from SQL. The same statements run on both databases.

Tables: ``import_rows`` (what the file said, one row per good line) and ``import_plan`` (each row's outcome,
decided in one statement: duplicate, suppressed, already active, unsubscribed earlier, pending, new; its subscriber,
existing or to be created with an id given in advance; and, rarely, "changed" for a row skipped because what it
depends on changed between the plan and the writes).
"""

from datetime import datetime
from functools import lru_cache

from django.db import connection
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.datetime import DatetimeDumper

from ...attributevalues import COLUMN
from ...models import (
    AttributeValue,
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
from ...publicids import PUBLIC_ID_SQL_POSTGRES
from . import references
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
    """A new public id. SQLite has no UUID function: 16 random bytes as 32 hex digits, the form Django stores a
    UUIDField in there."""
    return PUBLIC_ID_SQL_POSTGRES if _postgres() else "lower(hex(randomblob(16)))"


def _scopes_sql() -> str:
    """The suppression scopes that keep an address from being imported, as an SQL list."""
    return f"('{SuppressionScope.MARKETING}', '{SuppressionScope.ALL}')"


# The staging column type of each attribute type: the type of the AttributeValue column it is written to.
STAGING_TYPE = {"text": "text", "number": "numeric(24, 6)", "date": "date", "boolean": "boolean"}


def attribute_column(index: int) -> str:
    """The staging (and plan) column of the ``index``-th attribute mapped (``RowChecker.attributes``)."""
    return f"attribute_{index}"


def staging_create(*, attributes=()) -> None:
    """The staging table, with one typed column per attribute mapped (``attributes``, in the checker's order)."""
    extra = "".join(f", {attribute_column(i)} {STAGING_TYPE[COLUMN[a.type]]}" for i, a in enumerate(attributes))
    with connection.cursor() as cursor:
        for table in ("import_rows", "import_plan"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(STAGING_DDL.rstrip().removesuffix(")") + extra + ")")


class _RepeatedMomentDumper(DatetimeDumper):
    """Dumps an aware datetime for COPY as psycopg does (its text), remembering the last few thousand: a file's
    consent dates repeat (each is one of a few thousand days, and ``rows._parse_date`` hands out one object per
    cell text), and psycopg's own dumper spends about 3 microseconds a row formatting the same day again, a fifth
    of the Python pass's time per row."""

    def __init__(self, cls, context=None):
        super().__init__(cls, context)
        self.dump = lru_cache(maxsize=4096)(super().dump)


class StagingWriter:
    """A context manager taking good rows one at a time: COPY on PostgreSQL, executemany in chunks on SQLite."""

    def __init__(self, *, attributes=()):
        self.columns = (*STAGING_COLUMNS, *(attribute_column(i) for i in range(len(attributes))))

    def __enter__(self):
        self._cursor = connection.cursor()
        columns = ", ".join(self.columns)
        if _postgres():
            # The rows are sent by a thread of psycopg's while this one reads and checks the next ones: waiting for
            # the socket (a busy server) no longer stops the Python pass. At most 1,024 blocks of about 32 KB wait.
            writer = QueuedLibpqWriter(self._cursor.cursor)
            self._cursor.cursor.adapters.register_dumper(datetime, _RepeatedMomentDumper)
            self._copy_cm = self._cursor.cursor.copy(f"COPY import_rows ({columns}) FROM STDIN", writer=writer)
            copy = self._copy_cm.__enter__()
            self.add = copy.write_row
        else:
            self._copy_cm = None
            self._chunk: list[tuple] = []
            placeholders = ", ".join(["%s"] * len(self.columns))
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


def _analyse(cursor, table: str) -> None:
    """Give PostgreSQL's planner the row counts and value spreads of a temporary table, which autovacuum never
    analyses: without them it may answer a join with a million rows as if they were a thousand (a nested loop over
    the suppression list for each row, say)."""
    if _postgres():
        cursor.execute(f"ANALYZE {table}")


def _new_id_sql(cursor) -> str:
    """SQL for a new subscriber id, evaluated once per row that creates a subscriber, in address order."""
    table = Subscriber._meta.db_table
    if _postgres():
        # From the table's own sequence, as an insert would take it: the ids are ours alone.
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        return f"nextval('{cursor.fetchone()[0]}'::regclass)"
    # SQLite: after the highest id ever given (AUTOINCREMENT never gives one twice, even after a delete). Nobody else
    # can take them first: the import's transaction holds SQLite's write lock from its start (BEGIN IMMEDIATE).
    highest = f"""(SELECT COALESCE(MAX(m), 0) FROM (
        SELECT MAX(id) AS m FROM {table} UNION ALL SELECT seq FROM sqlite_sequence WHERE name = '{table}'))"""  # noqa: S608 - the table name comes from the model
    return f"{highest} + ROW_NUMBER() OVER (PARTITION BY creates_subscriber ORDER BY line)"


def _bytewise_order_is_address_order(cursor) -> bool:
    """Whether the database orders text by its bytes (a C or C.UTF-8 libc collation). The plan's windows only group
    equal addresses, so any order would do for them; but the plan's order is the order the new subscribers are
    inserted in, which should be the order of the address index. Where the two agree, the plan sorts with COLLATE
    "C", which gives the same order and lets PostgreSQL compare abbreviated keys (it does not for a libc collation,
    even C.UTF-8)."""
    if not _postgres():
        return False
    libc = "datlocprovider = 'c' AND" if connection.pg_version >= 150000 else ""  # ICU came as a default in 15
    cursor.execute(
        f"SELECT {libc} datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8') FROM pg_database "  # noqa: S608 - fixed text
        "WHERE datname = current_database()"
    )
    return cursor.fetchone()[0]


def plan_build(*, for_writing: bool, attributes=()) -> dict[str, int]:
    """Decide every staged row's outcome in one statement; return the counts the report shows.

    ``for_writing``: give each new subscriber its id now (not for a dry run, so that one uses up no ids), which
    lets every write find its subscriber in the plan instead of looking up a million addresses again.
    ``attributes``: the attributes mapped, whose staged columns the plan carries.
    """
    carried = "".join(f", w.{attribute_column(i)}" for i in range(len(attributes)))
    subscriber, subscription = Subscriber._meta.db_table, Subscription._meta.db_table
    suppression = Suppression._meta.db_table
    scopes = _scopes_sql()
    with connection.cursor() as cursor:
        _analyse(cursor, "import_rows")
        if _postgres():
            # For this transaction only: the plan's sort of a million rows (about 300 MB) and its hashes stay in
            # memory, up to 512 MB each (at 256 MB the sort went to disk); and no JIT compilation, which costs
            # about half a second for each of the import's big statements and gains nothing on them.
            cursor.execute("SET LOCAL work_mem = '512MB'")
            cursor.execute("SET LOCAL jit = off")
        new_id = _new_id_sql(cursor) if for_writing else "NULL"
        bytewise = ' COLLATE "C"' if _bytewise_order_is_address_order(cursor) else ""
        # Inside out: each row's existing subscriber (by either spelling of its address) and suppression; then its
        # place among the rows of the same address and topic (the first wins, the others are duplicates); then
        # which row creates the address's subscriber: the first that has none, is no duplicate and is not
        # suppressed. One sort serves both windows, and the rows come out in address order, so the new ids
        # ascend with the addresses.
        cursor.execute(
            f"""
            CREATE TEMP TABLE import_plan AS
            SELECT w.line, w.email, w.email_key, w.email_alt, w.hmac, w.hmac_alt, w.first_name, w.topic_id, w.basis,
                   w.consented_at, w.policy_version_id, w.wording_hash, w.detail, w.subscriber_id,
                   w.creates_subscriber, w.suppressed{carried},
                   CASE
                       WHEN w.nth > 1 THEN 'duplicate'
                       WHEN w.suppressed THEN 'suppressed'
                       ELSE COALESCE(sn.status, 'new')
                   END AS outcome,
                   CASE WHEN w.creates_subscriber THEN {new_id} END AS new_id
            FROM (
                SELECT n.*, COALESCE(MIN(CASE WHEN n.subscriber_id IS NULL AND n.nth = 1 AND NOT n.suppressed
                                              THEN n.line END) OVER (PARTITION BY n.email_key{bytewise}) = n.line,
                                     FALSE)
                           AS creates_subscriber
                FROM (
                    SELECT j.*, row_number() OVER (PARTITION BY j.email_key{bytewise}, j.topic_id ORDER BY j.line)
                           AS nth
                    FROM (
                        SELECT r.*, COALESCE(s1.id, s2.id) AS subscriber_id,
                               x1.address_hmac IS NOT NULL OR x2.address_hmac IS NOT NULL AS suppressed
                        FROM import_rows r
                        LEFT JOIN {subscriber} s1 ON s1.email = r.email
                        LEFT JOIN {subscriber} s2 ON r.email_alt IS NOT NULL AND s2.email = r.email_alt
                        LEFT JOIN (SELECT DISTINCT address_hmac FROM {suppression} WHERE scope IN {scopes}) x1
                            ON x1.address_hmac = r.hmac
                        LEFT JOIN (SELECT DISTINCT address_hmac FROM {suppression} WHERE scope IN {scopes}) x2
                            ON r.hmac_alt IS NOT NULL AND x2.address_hmac = r.hmac_alt
                    ) j
                ) n
            ) w
            LEFT JOIN {subscription} sn ON sn.subscriber_id = w.subscriber_id AND sn.topic_id = w.topic_id
            """  # noqa: S608 - table names come from the models; every value is a parameter
        )
        _analyse(cursor, "import_plan")
        cursor.execute(
            """SELECT outcome, COUNT(*), SUM(CASE WHEN creates_subscriber THEN 1 ELSE 0 END),
                      SUM(CASE WHEN subscriber_id IS NULL AND NOT creates_subscriber THEN 1 ELSE 0 END),
                      SUM(CASE WHEN subscriber_id IS NOT NULL THEN 1 ELSE 0 END)
               FROM import_plan GROUP BY outcome"""
        )
        counts = {outcome: 0 for outcome in OUTCOMES}
        counts["new_subscribers"] = counts["new_for_existing"] = counts["rows_of_existing"] = 0
        for outcome, count, creating, sharing, existing in cursor.fetchall():
            counts[outcome] = count
            counts["new_subscribers"] += creating or 0
            counts["rows_of_existing"] += existing or 0
            if outcome == "new":
                counts["new_for_existing"] = existing or 0
            if outcome == "new" and sharing and for_writing:
                # The other rows (other topics) of an address that gets a subscriber take its id.
                cursor.execute(
                    """
                    UPDATE import_plan SET new_id = f.new_id
                    FROM import_plan f
                    WHERE import_plan.outcome = 'new' AND import_plan.subscriber_id IS NULL
                      AND NOT import_plan.creates_subscriber AND f.creates_subscriber
                      AND f.email_key = import_plan.email_key
                    """
                )
        if attributes and for_writing:
            # A value may come from a later row of a new address than its first (same topic: a duplicate, whose
            # cell the first row left empty): that row takes the address's new id too, for its values only.
            cursor.execute(
                """
                UPDATE import_plan SET new_id = f.new_id
                FROM import_plan f
                WHERE import_plan.outcome = 'duplicate' AND import_plan.subscriber_id IS NULL
                  AND import_plan.new_id IS NULL AND f.creates_subscriber AND f.email_key = import_plan.email_key
                """
            )
    return counts


def plan_write(*, now, policy_version_id: int | None, counts: dict[str, int], attributes=()) -> dict:
    """Write what the plan decided (``counts`` is what ``plan_build`` returned): new subscribers, new and newly
    active subscriptions, one consent event each.

    Returns the counts written; ``changed_meanwhile``, the rows skipped because their subscriber was created by
    someone else or deleted since the plan; and ``reference_checks``: "set-based" or "per row" (see
    ``references``).
    """
    now = connection.ops.adapt_datetimefield_value(now)
    written = {"changed_meanwhile": 0}
    with connection.cursor() as cursor, references.bulk_checks(cursor) as set_based:
        written["reference_checks"] = "set-based" if set_based else "per row"
        gone = _postgres() and references.referenced_rows_lock(
            cursor, policy_version_id=policy_version_id, attributes=attributes
        )
        written["subscribers_created"] = _subscribers_create(cursor, now=now)
        if gone or written["subscribers_created"] != counts["new_subscribers"]:
            written["changed_meanwhile"] = _changed_mark(cursor)
        written["attribute_values"] = _attribute_values_write(
            cursor,
            now=now,
            attributes=attributes,
            counts=counts,
            # Every subscriber a row names exists unless one was deleted, or not created, meanwhile.
            check_subscribers=bool(gone or written["changed_meanwhile"] or not _postgres()),
        )
        written["subscriptions_created"] = _subscriptions_create(cursor, now=now, counts=counts)
        written["subscriptions_activated"] = _pending_activate(cursor, now=now) if counts["pending"] else 0
        every_row_written = not written["changed_meanwhile"] and (
            (written["subscriptions_created"], written["subscriptions_activated"]) == (counts["new"], counts["pending"])
        )
        written["consent_events"] = _events_record(
            cursor, now=now, policy_version_id=policy_version_id, every_row_written=every_row_written
        )
    return written


def _not_suppressed() -> str:
    """A row's address (in either spelling) is not suppressed now. Checked as each subscriber and subscription is
    written, not only when the plan was made: an unsubscribe from everything, a complaint or an erasure may have
    committed in between, and must win. Two conditions rather than one with OR, so that PostgreSQL answers them with
    an anti-join, not a lookup per row."""
    suppressed = f"SELECT 1 FROM {Suppression._meta.db_table} x WHERE x.scope IN {_scopes_sql()} AND x.address_hmac"  # noqa: S608
    return f"NOT EXISTS ({suppressed} = n.hmac) AND (n.hmac_alt IS NULL OR NOT EXISTS ({suppressed} = n.hmac_alt))"


def _subscribers_create(cursor, *, now) -> int:
    """Each new address's first row creates its subscriber, with the id the plan gave it. The plan is in address
    order, so the ids ascend with the addresses and both indexes fill at their ends. A subscriber someone else
    created meanwhile is left alone."""
    cursor.execute(
        f"""
        INSERT INTO {Subscriber._meta.db_table} (id, email, address_hmac, first_name, public_id, created_at)
        SELECT new_id, email, hmac, first_name, {_uuid_sql()}, %s FROM import_plan n
        WHERE creates_subscriber AND {_not_suppressed()}
        ON CONFLICT (email) DO NOTHING
        """,  # noqa: S608 - table names come from the models; every value is a parameter
        [now],
    )
    return cursor.rowcount


def _changed_mark(cursor) -> int:
    """Skip (outcome "changed") the rows whose subscriber does not exist: one deleted since the plan, or a new one
    not created because someone else added the address, or it was suppressed, meanwhile. Returns how many."""
    subscriber = Subscriber._meta.db_table
    cursor.execute(
        f"""UPDATE import_plan SET outcome = 'changed' WHERE {references.WRITTEN} AND NOT EXISTS (
            SELECT 1 FROM {subscriber} s WHERE s.id = COALESCE(import_plan.subscriber_id, import_plan.new_id)
        )"""  # noqa: S608 - the table name comes from the model
    )
    return cursor.rowcount


def _attribute_values_write(cursor, *, now, attributes, counts: dict[str, int], check_subscribers: bool) -> int:
    """Two statements per attribute, one for the subscribers this import creates and one for those it found: each
    subscriber's value from the first of their rows with one (an empty cell leaves the value they hold alone). Rows
    of a suppressed address (its duplicates included), or skipped as changed meanwhile, set nothing. Returns how
    many values were set.

    A subscriber this import creates holds no value yet (nobody else can see them before the commit), so theirs are
    plain inserts. An existing subscriber's value is set over the one they held, and the same value is left as it
    was: ``ON CONFLICT ... DO UPDATE``, which costs PostgreSQL a look in the unique index before each insert. When
    every new subscriber has a single row (no duplicates, one topic each), the first row is the only one, and the
    statement skips the window that finds it (a sort of the rows). Together, a million new subscribers' three
    values took 42 s to write where they took 53 to 58 s (docs/BENCHMARKS.md, "Importing with attribute
    columns")."""
    table = AttributeValue._meta.db_table
    subscriber = Subscriber._meta.db_table
    exists = f"AND EXISTS (SELECT 1 FROM {subscriber} s WHERE s.id = v.sid)" if check_subscribers else ""  # noqa: S608
    rows_of_new = counts["new"] - counts["new_for_existing"]
    one_row_each = not counts["duplicate"] and rows_of_new == counts["new_subscribers"]
    # (the row's subscriber, only its first row with a value, over a value held). A row has a new id or an existing
    # subscriber, never both.
    groups = []
    if counts["new_subscribers"]:
        groups.append(("n.new_id", not one_row_each, False))
    if counts["rows_of_existing"]:
        groups.append(("n.subscriber_id", True, True))
    written = 0
    for index, attribute in enumerate(attributes):
        staged, column = attribute_column(index), COLUMN[attribute.type]
        # The text column is never NULL: "" is "no text" for the other types.
        others = {"text": "''", "number": "NULL", "date": "NULL", "boolean": "NULL"} | {column: "v.value"}
        for sid, first_only, over_held in groups:
            nth = f"row_number() OVER (PARTITION BY {sid} ORDER BY n.line)" if first_only else "1"
            conflict = (
                f"""ON CONFLICT (subscriber_id, attribute_id) DO UPDATE
                SET {column} = EXCLUDED.{column}, updated_at = EXCLUDED.updated_at
                WHERE {table}.{column} IS DISTINCT FROM EXCLUDED.{column}"""  # noqa: S608 - names from the models
                if over_held
                else ""
            )
            cursor.execute(
                f"""
                INSERT INTO {table} (subscriber_id, attribute_id, text, number, date, boolean, updated_at)
                SELECT v.sid, %s, {others["text"]}, {others["number"]}, {others["date"]}, {others["boolean"]}, %s
                FROM (
                    SELECT {sid} AS sid, n.{staged} AS value, {nth} AS nth
                    FROM import_plan n
                    WHERE n.{staged} IS NOT NULL AND NOT n.suppressed AND n.outcome <> 'changed'
                      AND {sid} IS NOT NULL
                ) v
                WHERE v.nth = 1 {exists}
                {conflict}
                """,  # noqa: S608 - table and column names come from the models; every value is a parameter
                [attribute.pk, now],
            )
            written += cursor.rowcount
    return written


def _subscriptions_create(cursor, *, now, counts: dict[str, int]) -> int:
    """The new subscriptions: for a new subscriber without a conflict check (nobody else can see the subscriber
    before the import commits, and the plan keeps one row per address and topic), for an existing one leaving alone
    a subscription someone else made meanwhile."""
    created = 0
    for rows, wanted, conflict in (
        ("new_id IS NOT NULL", counts["new"] - counts["new_for_existing"], ""),
        ("subscriber_id IS NOT NULL", counts["new_for_existing"], "ON CONFLICT (subscriber_id, topic_id) DO NOTHING"),
    ):
        if not wanted:
            continue
        cursor.execute(
            f"""
            INSERT INTO {Subscription._meta.db_table} (subscriber_id, topic_id, status, lawful_basis, public_id,
                                                      confirm_nonce_hash, confirmed_at)
            SELECT COALESCE(subscriber_id, new_id), topic_id, '{SubscriptionStatus.ACTIVE}', basis, {_uuid_sql()}, '',
                   COALESCE(consented_at, %s)
            FROM import_plan n WHERE outcome = 'new' AND {rows} AND {_not_suppressed()}
            {conflict}
            """,  # noqa: S608 - table names come from the models; every value is a parameter
            [now],
        )
        created += cursor.rowcount
    return created


def _pending_activate(cursor, *, now) -> int:
    """Make active the pending subscriptions (never confirmed) that the file gives consent for."""
    subscription = Subscription._meta.db_table
    cursor.execute(
        f"""
        UPDATE {subscription}
        SET status = '{SubscriptionStatus.ACTIVE}', lawful_basis = n.basis, confirmed_at = COALESCE(n.consented_at, %s),
            unsubscribed_at = NULL, confirm_nonce_hash = ''
        FROM import_plan n
        WHERE n.outcome = 'pending' AND {subscription}.subscriber_id = n.subscriber_id
          AND {subscription}.topic_id = n.topic_id AND {subscription}.status = 'pending' AND {_not_suppressed()}
        """,  # noqa: S608 - table names come from the models; every value is a parameter
        [now],
    )
    return cursor.rowcount


def _events_record(cursor, *, now, policy_version_id: int | None, every_row_written: bool) -> int:
    """One consent event per subscription actually written: a row that a concurrent change made the import skip
    (the person subscribed or was suppressed meanwhile) gets none, so the ledger never contradicts the subscriptions.
    When every row was written (the rule), that is every row; otherwise each row's subscription is looked for."""
    params = [now, policy_version_id]
    written_only = ""
    if not every_row_written:
        written_only = f"""AND EXISTS (
            SELECT 1 FROM {Subscription._meta.db_table} s
            WHERE s.subscriber_id = COALESCE(n.subscriber_id, n.new_id) AND s.topic_id = n.topic_id
              AND s.status = '{SubscriptionStatus.ACTIVE}' AND s.confirmed_at = COALESCE(n.consented_at, %s)
        )"""  # noqa: S608 - table names come from the models; every value is a parameter
        params.append(now)
    cursor.execute(
        f"""
        INSERT INTO {ConsentEvent._meta.db_table} (subscriber_id, topic_id, purpose, action, source, occurred_at,
                                                  policy_version_id, wording_hash, detail)
        SELECT COALESCE(subscriber_id, new_id), topic_id, '{ConsentPurpose.MARKETING}', '{ConsentAction.IMPORTED}',
               '{ConsentSource.IMPORT}', %s, COALESCE(policy_version_id, %s), wording_hash, detail
        FROM import_plan n
        WHERE {references.WRITTEN} {written_only}
        """,  # noqa: S608 - table names come from the models; every value is a parameter
        params,
    )
    return cursor.rowcount


def staging_drop() -> None:
    """Drop the import's temporary tables: the staging table (written outside the import's transaction, so it
    outlives it) and the plan the transaction made, which a commit keeps."""
    with connection.cursor() as cursor:
        for table in ("import_rows", "import_plan"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
