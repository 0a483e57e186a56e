"""The ledger's indexes: each one costs every row a million-row import writes, so only those something reads are
kept (migration 0021, docs/BENCHMARKS.md)."""

import pytest
from django.db import connection

from subscribers.models import ConsentEvent

pytestmark = pytest.mark.django_db


def _indexed_columns(table: str) -> dict[str, list[str]]:
    """Each index and unique constraint of ``table`` (not its primary key): name -> columns."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: info["columns"]
        for name, info in constraints.items()
        if (info["index"] or info["unique"]) and not info["primary_key"]
    }


def test_the_ledger_has_no_index_on_the_policy_version():
    indexed = list(_indexed_columns(ConsentEvent._meta.db_table).values())
    assert ["policy_version_id"] not in indexed
    assert ["subscriber_id"] in indexed and ["topic_id"] in indexed  # erasure, export; the history's topic filter
