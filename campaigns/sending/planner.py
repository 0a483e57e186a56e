"""Telling PostgreSQL's planner about a crowd of rows just written, without waiting for autovacuum.

A send's snapshot or an automation's crowd can put hundreds of thousands of rows into a table the planner last saw
nearly empty. Until autovacuum next analyzes it (a minute or more later; never, where it is off), every statement of
the workers is planned for the empty table: marking two rows of a send walked all of the send's rows by another
index (18 ms against well under one), and claiming a batch of runs sorted the whole crowd on disk (30 to 90 ms). An
``ANALYZE`` samples a fixed number of rows whatever the table's size, and blocks no one's reads or writes.
"""

from django.db import connection, models


def planner_statistics_refresh(model: type[models.Model]) -> None:
    """Analyze ``model``'s table now (PostgreSQL; other databases plan without such statistics)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
