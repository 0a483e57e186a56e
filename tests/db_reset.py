"""Faster ends and starts of transactional tests: the same database before and after each, reached sooner.

Django empties a transactional test's database when it ends (the ``flush`` command) and, for a test with
``serialized_rollback``, loads the rows migrations made back in when the next one starts. Both were slow here:

- The flush, on PostgreSQL, is one TRUNCATE of every table (about 95): each table and index gets new files, about
  2 s a test on the suite's machine, though a test leaves rows in a dozen tables at most. Here one query finds the
  tables that hold rows and only those are emptied, on PostgreSQL with DELETE in one transaction (the foreign keys
  Django makes are checked at commit, so the order does not matter). Every table Django would flush ends empty;
  sequences are left as they were, as Django's teardown flush leaves them. A flush that resets sequences (``flush``
  by hand, ``reset_sequences``) is Django's own.
- The load saves each of the ~450 serialized objects (content types, permissions, Wagtail's pages, groups...) with
  two queries. On PostgreSQL the first load is Django's; the tables it filled are then copied, once, into a schema
  of the test database (SNAPSHOT_SCHEMA), and every later load of the same rows is one INSERT ... SELECT a table.
  The copy is checked against the serialized rows when it is made. SQLite loads the Django way.

tests/conftest.py loads this module as a plugin.
"""

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.core.management.commands import flush as flush_command
from django.core.management.sql import sql_flush as django_sql_flush
from django.db import transaction
from django.db.backends.base.creation import BaseDatabaseCreation

# SQLite allows at most 500 SELECTs in one compound SELECT.
TABLES_PER_QUERY = 400
SNAPSHOT_SCHEMA = "test_serialized_rows"


def tables_with_rows(connection, tables: list[str]) -> list[str]:
    """The tables, of ``tables``, that hold at least one row, in one query per few hundred tables."""
    found: list[str] = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for start in range(0, len(tables), TABLES_PER_QUERY):
            chunk = tables[start : start + TABLES_PER_QUERY]
            exists = "SELECT %s WHERE EXISTS (SELECT 1 FROM {})"  # table names come from the models
            sql = " UNION ALL ".join(exists.format(quote(table)) for table in chunk)
            cursor.execute(sql, chunk)
            found += [row[0] for row in cursor.fetchall()]
    return found


def sql_flush(style, connection, reset_sequences=True, allow_cascade=False):
    """Django's ``sql_flush`` for the tables that hold rows only (when sequences are not reset)."""
    if reset_sequences:
        return django_sql_flush(style, connection, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    tables = tables_with_rows(connection, connection.introspection.django_table_names(only_existing=True))
    if not tables:
        return []
    if connection.vendor == "postgresql":
        # Every foreign key Django creates is DEFERRABLE INITIALLY DEFERRED: checked when the flush commits,
        # by which time the rows that pointed at deleted rows are deleted too.
        quote = connection.ops.quote_name
        return ["SET CONSTRAINTS ALL DEFERRED", *(f"DELETE FROM {quote(table)}" for table in tables)]  # noqa: S608
    return connection.ops.sql_flush(style, tables, reset_sequences=False, allow_cascade=allow_cascade)


class SerializedRowsSnapshot:
    """On PostgreSQL, the serialized rows kept as tables of SNAPSHOT_SCHEMA in the test database, and put back with
    one INSERT ... SELECT a table."""

    def __init__(self):
        # (database name, serialized data) -> {table: its columns}, once the copy is made
        self.copies: dict[tuple[str, str], dict[str, list[str]]] = {}

    def load(self, creation, data: str) -> None:
        connection = creation.connection
        if connection.vendor != "postgresql":
            return django_deserialize(creation, data)
        key = (connection.settings_dict["NAME"], data)
        if key not in self.copies:
            django_deserialize(creation, data)
            self.copies[key] = self.copy(connection, data)
            return
        quote = connection.ops.quote_name
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for table, columns in self.copies[key].items():
                listed = ", ".join(quote(column) for column in columns)
                copied = f"{quote(SNAPSHOT_SCHEMA)}.{quote(table)}"
                cursor.execute(f"INSERT INTO {quote(table)} ({listed}) SELECT {listed} FROM {copied}")  # noqa: S608

    @staticmethod
    def copy(connection, data: str) -> dict[str, list[str]]:
        """Copy the tables the serialized rows went into (their models' and their many-to-many tables), just after
        they were loaded into the emptied database, and check the copy holds as many rows as were serialized."""
        objects = json.loads(data)
        per_table = Counter(apps.get_model(o["model"])._meta.db_table for o in objects)
        tables = set(per_table)
        for label in {o["model"] for o in objects}:
            for field in apps.get_model(label)._meta.many_to_many:
                if field.remote_field.through._meta.auto_created:
                    tables.add(field.remote_field.through._meta.db_table)
        quote = connection.ops.quote_name
        schema = quote(SNAPSHOT_SCHEMA)
        copies: dict[str, list[str]] = {}
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for table in sorted(tables):
                cursor.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                    [quote(table)],
                )
                copies[table] = [row[0] for row in cursor.fetchall()]
                copied = f"{schema}.{quote(table)}"
                cursor.execute(f"DROP TABLE IF EXISTS {copied}")
                cursor.execute(f"CREATE TABLE {copied} AS SELECT * FROM {quote(table)}")  # noqa: S608
                cursor.execute(f"SELECT COUNT(*) FROM {copied}")  # noqa: S608
                rows = cursor.fetchone()[0]
                assert table not in per_table or rows == per_table[table], (
                    f"{table} holds {rows} rows after the serialized rows were loaded; {per_table[table]} were "
                    "serialized. The database was not empty, or not all of them were loaded."
                )
        return copies


django_deserialize = BaseDatabaseCreation.deserialize_db_from_string


@pytest.fixture(scope="session", autouse=True)
def _fast_database_reset() -> Iterator[None]:
    """The flush command uses ``sql_flush`` above, and serialized rows are loaded through a snapshot, for the run."""
    snapshot = SerializedRowsSnapshot()
    flush_command.sql_flush = sql_flush
    BaseDatabaseCreation.deserialize_db_from_string = lambda creation, data: snapshot.load(creation, data)
    try:
        yield
    finally:
        flush_command.sql_flush = django_sql_flush
        BaseDatabaseCreation.deserialize_db_from_string = django_deserialize
