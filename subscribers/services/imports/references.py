"""The import's foreign keys, checked set-based on PostgreSQL instead of one row at a time.

PostgreSQL checks a foreign key per row written: a query finds the row referred to and locks it (KEY SHARE) until
commit, so that nobody can delete it meanwhile. A million-row import writes five million references, and those checks
took about 20 seconds at commit, a third of the import. So when the database role may set
``session_replication_role`` (a superuser, or on PostgreSQL 15 and later a role granted ``SET`` on that parameter),
the import switches the per-row checks off for its own transaction only and does the same work in a few statements:

- before writing, it locks every topic, privacy policy version and existing subscriber its rows refer to, with the
  same KEY SHARE lock the per-row checks take. It stops if a topic or policy version has gone (ImportInterrupted:
  the transaction rolls back whole, as after a failed per-row check), and skips the rows of a subscriber that has
  gone (erased meanwhile, say), where a per-row check would have failed the whole import. With attribute columns,
  it also locks the existing subscribers whose values it sets (any row but a suppressed one), and SHARE-locks the
  attributes themselves (after the policy versions, before the subscribers), so that none can be deleted or
  retyped before the commit; one deleted or changed since the file was checked stops the import;
- every other reference is to a row the import itself wrote in this transaction, which nobody else can see, let
  alone delete: a new subscriber (the rows of one that could not be created are skipped), or the subscriber and
  topic of a subscription it wrote, for that subscription's consent event.

Without the privilege nothing else changes: the same locks are taken, and the database also checks each row. On
SQLite, where one connection writes at a time (the import's transaction holds the write lock from its start), the
database checks each row.

The locks are held from the start of the writes to the commit (about 30 s for a million rows), where the per-row
checks took them at commit: meanwhile, changing a referenced subscriber's address or deleting them waits. The
retention purge skips a subscriber that an import has locked, and comes back to them the next day.

``session_replication_role`` also silences triggers and rules, and with them deferrable unique constraints (which
PostgreSQL enforces with triggers); the tables the import writes have none but their foreign keys' (a test keeps
it so), and the setting is put back when the writes end.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from ...models import Attribute, PrivacyPolicyVersion, Subscriber, Topic
from ..errors import ImportInterrupted

WRITTEN = "outcome IN ('new', 'pending')"


@contextmanager
def bulk_checks(cursor) -> Iterator[bool]:
    """Within the block, check references set-based if the database allows it; yields whether it does. The setting
    is put back at the end of the block, so that the rest of a caller's transaction (a script that wraps the
    import in its own, a test) is checked as usual."""
    if not _may_switch(cursor):
        yield False
        return
    cursor.execute("SELECT current_setting('session_replication_role')")
    before = cursor.fetchone()[0]
    cursor.execute("SET LOCAL session_replication_role = replica")
    yield True
    # Not after a failure: the import's transaction (or savepoint) is then rolled back, which undoes the SET LOCAL.
    cursor.execute("SELECT set_config('session_replication_role', %s, true)", [before])


def _may_switch(cursor) -> bool:
    """Whether this role may set session_replication_role: a superuser, or (PostgreSQL 15 and later) a role
    granted SET on it. Asked rather than tried, so that a refusal is not logged as an error on every import."""
    if connection.vendor != "postgresql":
        return False
    if connection.pg_version >= 150000:
        cursor.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
    else:
        cursor.execute("SELECT current_setting('is_superuser') = 'on'")
    return cursor.fetchone()[0]


def referenced_rows_lock(cursor, *, policy_version_id: int | None, attributes=()) -> bool:
    """Lock every row the writes will refer to, as the per-row checks would, so that none can be deleted before the
    import commits. Raises ImportInterrupted if a topic or privacy policy version has been deleted since the plan
    was made; returns whether an existing subscriber has been (their rows are then skipped). The subscribers the
    import creates need no lock: nobody else can see them before it commits."""
    # The SQL below is fixed text: table names from the models, values as parameters. One pass over the plan finds
    # the few topics and policy versions its rows name (and how many existing subscribers); each lock then looks
    # those up by key, instead of scanning the plan again.
    cursor.execute(
        f"""SELECT ARRAY_AGG(DISTINCT topic_id), ARRAY_AGG(DISTINCT COALESCE(policy_version_id, %s)),
                   COUNT(DISTINCT subscriber_id)
        FROM import_plan WHERE {WRITTEN}""",  # noqa: S608
        [policy_version_id],
    )
    topic_ids, version_ids, wanted_subscribers = cursor.fetchone()
    topic_ids, version_ids = _ids(topic_ids), _ids(version_ids)
    wanted_topics, wanted_versions = len(topic_ids), len(version_ids)
    topics = _lock(cursor, Topic._meta.db_table, "SELECT UNNEST(%s::bigint[])", [topic_ids])
    versions = _lock(cursor, PrivacyPolicyVersion._meta.db_table, "SELECT UNNEST(%s::bigint[])", [version_ids])
    if (topics, versions) != (wanted_topics, wanted_versions):
        raise ImportInterrupted(
            "A topic or privacy policy version named in the file was deleted while the import ran. Nothing was "
            "imported; check the file's topics and policy versions, and run the import again."
        )
    if attributes:
        _attributes_lock(cursor, attributes)
    # The existing subscribers the rows write to: a subscription, or (any row but a suppressed one) a value.
    written = f"({WRITTEN} OR {_valued(len(attributes))})" if attributes else WRITTEN
    if attributes:
        cursor.execute(
            f"SELECT COUNT(DISTINCT subscriber_id) FROM import_plan WHERE {written}"  # noqa: S608
        )
        wanted_subscribers = cursor.fetchone()[0]
    existing = f"SELECT subscriber_id FROM import_plan WHERE subscriber_id IS NOT NULL AND {written}"  # noqa: S608
    subscribers = _lock(cursor, Subscriber._meta.db_table, existing)
    return subscribers != wanted_subscribers


def _ids(aggregated: list | None) -> list[int]:
    """The ids an ARRAY_AGG found: none (NULL) when no row was to be written; a NULL id is no reference."""
    return [i for i in aggregated or () if i is not None]


def _valued(count: int) -> str:
    """A plan row that sets a value: any of its attribute columns set, its address not suppressed (a duplicate row
    of a suppressed address included)."""
    cells = " OR ".join(f"attribute_{i} IS NOT NULL" for i in range(count))
    return f"(NOT suppressed AND ({cells}))"


def _attributes_lock(cursor, attributes) -> None:
    """SHARE-lock the attributes the import writes values of, after the topics and policy versions and before the
    subscribers (the import's lock order): none can be deleted, nor its type or choices changed, until the import
    commits. Raises ImportInterrupted if one was deleted or changed since the file was checked."""
    cursor.execute(
        f"SELECT id, type, choices::text FROM {Attribute._meta.db_table} WHERE id = ANY(%s) ORDER BY id FOR SHARE",  # noqa: S608
        [[a.pk for a in attributes]],
    )
    now = {pk: (type, json.loads(choices)) for pk, type, choices in cursor.fetchall()}
    if any(now.get(a.pk) != (a.type, a.choices) for a in attributes):
        raise ImportInterrupted(
            "An attribute named in the file was deleted or changed while the import ran. Nothing was imported; "
            "check the file's attribute columns, and run the import again."
        )


def _lock(cursor, table: str, ids_sql: str, params=()) -> int:
    """KEY SHARE-lock the rows of ``table`` whose id ``ids_sql`` selects; return how many there were."""
    cursor.execute(
        f"WITH locked AS (SELECT t.id FROM {table} t WHERE t.id IN ({ids_sql}) FOR KEY SHARE OF t) "  # noqa: S608
        "SELECT COUNT(*) FROM locked",
        params,
    )
    return cursor.fetchone()[0]
