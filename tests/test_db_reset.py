"""The flush that ends each transactional test leaves every table empty, as Django's does, and the next starts with
exactly the rows migrations made (tests/db_reset.py)."""

import json
from collections import Counter

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection

from subscribers.models import Subscriber, Subscription
from tests.db_reset import tables_with_rows
from tests.factories import SubscriptionFactory


def django_tables() -> list[str]:
    return connection.introspection.django_table_names(only_existing=True, include_views=False)


def rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608 - a model's table
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # brings back the rows migrations made
def test_the_flush_empties_every_table_that_holds_rows_and_only_finds_those():
    SubscriptionFactory.create_batch(3)  # subscribers, topics and the subscriptions pointing at both
    with_rows = tables_with_rows(connection, django_tables())
    assert {Subscriber._meta.db_table, Subscription._meta.db_table} <= set(with_rows)
    assert all(table in django_tables() for table in with_rows)
    assert [table for table in django_tables() if table not in with_rows and rows(table)] == []

    call_command("flush", verbosity=0, interactive=False, reset_sequences=False, inhibit_post_migrate=True)

    assert tables_with_rows(connection, django_tables()) == []
    assert [table for table in django_tables() if rows(table)] == []


@pytest.mark.parametrize("load", ["first", "again"])  # the second load, at least, comes from the snapshot
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_transactional_test_starts_with_exactly_the_rows_migrations_made(load):
    serialized = json.loads(connection._test_serialized_contents)
    assert serialized, "nothing was serialized: the check below would prove nothing"
    expected = Counter((o["model"], str(o["pk"])) for o in serialized)
    found = Counter(
        (label, str(pk))
        for label in {model for model, _ in expected}
        for pk in apps.get_model(label)._base_manager.values_list("pk", flat=True)
    )
    assert found == expected
    group = next(o for o in serialized if o["model"] == "auth.group" and o["fields"]["permissions"])
    assert sorted(Group.objects.get(pk=group["pk"]).permissions.values_list("pk", flat=True)) == sorted(
        group["fields"]["permissions"]
    )
