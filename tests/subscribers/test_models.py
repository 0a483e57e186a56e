"""The subscriber's and the ledger's indexes: each one costs every row a million-row import writes, so only those
something reads are kept (migration 0021, docs/BENCHMARKS.md), and the ones kept still do their jobs."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from subscribers.models import ConsentEvent, Subscriber
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def test_two_subscribers_can_never_share_an_address():
    SubscriberFactory(email="ada@mail.example")

    # The database refuses the second row
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(email="ada@mail.example")

    # And validation says so in the words it always used, naming the field
    with pytest.raises(ValidationError) as refused:
        Subscriber(email="ada@mail.example").full_clean()
    assert refused.value.message_dict["email"] == ["Subscriber with this Email already exists."]


def _plan(queryset) -> str:
    """PostgreSQL's plan for ``queryset`` with sequential scans priced out, so that on a small table the plan names
    an index whenever one can answer the query."""
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _indexed_columns(table: str) -> dict[str, list[str]]:
    """Each index and unique constraint of ``table`` (not its primary key): name -> columns."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: info["columns"]
        for name, info in constraints.items()
        if (info["index"] or info["unique"]) and not info["primary_key"]
    }


def test_on_postgresql_one_index_on_addresses_serves_the_look_ups_and_the_listings_order():
    if connection.vendor != "postgresql":
        pytest.skip("the plans and the extra LIKE index are PostgreSQL's")
    SubscriberFactory.create_batch(3)

    # An address looked up (sign-ups, the admin's search for a whole address, erasure) and the admin's listing in
    # address order, both ways, are answered by the unique index
    assert "subscriber_email_unique" in _plan(Subscriber.objects.filter(email="reader1@mail.example"))
    assert "subscriber_email_unique" in _plan(Subscriber.objects.order_by("email")[:20])
    assert "subscriber_email_unique" in _plan(Subscriber.objects.order_by("-email")[:20])
    # And it is the only index on the column: no second one for LIKE 'prefix%', which nothing runs
    on_email = [name for name, columns in _indexed_columns(Subscriber._meta.db_table).items() if columns == ["email"]]
    assert on_email == ["subscriber_email_unique"]


def test_the_ledger_has_no_index_on_the_policy_version():
    indexed = list(_indexed_columns(ConsentEvent._meta.db_table).values())
    assert ["policy_version_id"] not in indexed
    assert ["subscriber_id"] in indexed and ["topic_id"] in indexed  # erasure, export; the history's topic filter
