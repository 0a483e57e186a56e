"""The import's foreign keys, checked set-based on PostgreSQL instead of one row at a time.

PostgreSQL checks a foreign key per row written: a query finds the row referred to and locks it (KEY SHARE) until
commit, so that nobody can delete it meanwhile. A million-row import writes five million references, and those checks
took about 20 seconds at commit, a third of the import. So when the database role may set
``session_replication_role`` (a superuser, or on PostgreSQL 15 and later a role granted ``SET`` on that parameter),
the import switches the per-row checks off for its own transaction only and does the same work in a few statements:

- before writing, it locks every topic, privacy policy version and existing subscriber its rows refer to, with the
  same KEY SHARE lock the per-row checks take. It stops if a topic or policy version has gone (ImportInterrupted:
  the transaction rolls back whole, as after a failed per-row check), and skips the rows of a subscriber that has
  gone (erased meanwhile, say), where a per-row check would have failed the whole import;
- every other reference is to a row the import itself wrote in this transaction, which nobody else can delete: a
  new subscriber (the writes skip the rows of one that could not be created), or, for a consent event, the
  subscription it records.

Without the privilege nothing else changes: the same locks are taken, and the database also checks each row.
On SQLite, which lets one connection write at a time, the database checks each row.

``session_replication_role`` also silences ordinary triggers and rules; the tables the import writes have none (a
test keeps it so).
"""

from django.db import DatabaseError, connection, transaction

from ...models import PrivacyPolicyVersion, Subscriber, Topic
from ..errors import ImportInterrupted

INSUFFICIENT_PRIVILEGE = "42501"
WRITTEN = "outcome IN ('new', 'pending')"


def bulk_checks_begin(cursor) -> bool:
    """Switch this transaction to set-based reference checks, if the database allows it. True when it did."""
    if connection.vendor != "postgresql":
        return False
    try:
        with transaction.atomic():  # a savepoint, so that a refusal leaves the import's transaction usable
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError as err:
        if getattr(err.__cause__, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        return False
    return True


def referenced_rows_lock(cursor, *, policy_version_id: int | None) -> bool:
    """Lock every row the writes will refer to, as the per-row checks would, so that none can be deleted before the
    import commits. Raises ImportInterrupted if a topic or privacy policy version has been deleted since the plan
    was made. Rows whose existing subscriber has been deleted meanwhile (erased, say) are marked "changed" and
    skipped; returns whether there were any. The subscribers the import creates need no lock: nobody else can see
    them before it commits."""
    # The SQL below is fixed text: table names from the models, values as parameters.
    topics = _lock(cursor, Topic._meta.db_table, f"SELECT DISTINCT topic_id FROM import_plan WHERE {WRITTEN}")  # noqa: S608
    versions = _lock(
        cursor,
        PrivacyPolicyVersion._meta.db_table,
        f"SELECT DISTINCT COALESCE(policy_version_id, %s) FROM import_plan WHERE {WRITTEN}",  # noqa: S608
        [policy_version_id],
    )
    cursor.execute(
        f"""SELECT COUNT(DISTINCT topic_id), COUNT(DISTINCT COALESCE(policy_version_id, %s)),
                   COUNT(DISTINCT subscriber_id)
        FROM import_plan WHERE {WRITTEN}""",  # noqa: S608
        [policy_version_id],
    )
    wanted_topics, wanted_versions, wanted_subscribers = cursor.fetchone()
    if (topics, versions) != (wanted_topics, wanted_versions):
        raise ImportInterrupted(
            "A topic or privacy policy version named in the file was deleted while the import ran. Nothing was "
            "imported; check the file's topics and policy versions, and run the import again."
        )
    subscriber = Subscriber._meta.db_table
    subscribers = _lock(
        cursor, subscriber, f"SELECT subscriber_id FROM import_plan WHERE subscriber_id IS NOT NULL AND {WRITTEN}"  # noqa: S608
    )
    if subscribers == wanted_subscribers:
        return False
    cursor.execute(
        f"""UPDATE import_plan SET outcome = 'changed' WHERE subscriber_id IS NOT NULL AND {WRITTEN}
        AND NOT EXISTS (SELECT 1 FROM {subscriber} s WHERE s.id = import_plan.subscriber_id)"""  # noqa: S608
    )
    return True


def _lock(cursor, table: str, ids_sql: str, params=()) -> int:
    """KEY SHARE-lock the rows of ``table`` whose id ``ids_sql`` selects; return how many there were."""
    cursor.execute(
        f"WITH locked AS (SELECT t.id FROM {table} t WHERE t.id IN ({ids_sql}) FOR KEY SHARE OF t) "  # noqa: S608
        "SELECT COUNT(*) FROM locked",
        params,
    )
    return cursor.fetchone()[0]
