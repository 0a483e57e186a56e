"""Many rows as one statement's table: the same rows back, whichever way they travel (arrays or a VALUES list)."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from campaigns.sending import rowsets
from campaigns.sending.rowsets import rows_table

pytestmark = pytest.mark.django_db

COLUMNS = (("id", "bigint"), ("label", "text"), ("due", "timestamptz"), ("maybe", "bigint"))


def rows_read_back(rows):
    source, params = rows_table(COLUMNS, rows)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, label, due, maybe FROM {source} ORDER BY id", params)  # noqa: S608
        return cursor.fetchall()


def as_written(rows):
    adapt = connection.ops.adapt_datetimefield_value
    return [(pk, label, adapt(due), maybe) for pk, label, due, maybe in rows]


def comparable(got):
    """Read-back rows with their moments as aware datetimes (SQLite gives back the text it was given)."""
    out = []
    for pk, label, due, maybe in got:
        if isinstance(due, str):
            due = datetime.fromisoformat(due)
        out.append((pk, label, due.astimezone(UTC), maybe))
    return out


@pytest.mark.parametrize("count", [1, rowsets.ARRAYS_FROM - 1, rowsets.ARRAYS_FROM, 500])
def test_every_row_comes_back_with_its_values_in_their_columns(count):
    due = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    rows = [(n, f"row {n}, with 'quotes'", due, None if n % 3 else n * 10) for n in range(1, count + 1)]

    got = rows_read_back(as_written(rows))

    assert comparable(got) == rows


def test_a_large_set_goes_as_one_array_per_column_on_postgresql():
    rows = [(n, "x", datetime(2026, 1, 1, tzinfo=UTC), None) for n in range(rowsets.ARRAYS_FROM)]
    sql, params = rows_table(COLUMNS, as_written(rows))
    if connection.vendor == "postgresql":
        assert sql.startswith("unnest(")
        assert len(params) == len(COLUMNS)
    else:
        assert "VALUES" in sql
        assert len(params) == len(COLUMNS) * len(rows)
