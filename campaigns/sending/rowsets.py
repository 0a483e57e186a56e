"""Many rows handed to one SQL statement as a table: ``FROM <rows> AS v`` with named columns.

On PostgreSQL the rows go as one array per column (``unnest(%s::bigint[], %s::text[], ...)``): a statement of a
few parameters whatever the number of rows. A ``VALUES`` list of 200 rows of seven values is 1,400 placeholders,
which the driver rewrites in Python for every statement (it keeps no rewritten copy of so long a text): that alone
was a sixth of an automation worker's CPU. A few rows go as a ``VALUES`` list all the same (its short text is
rewritten once and kept by the driver, and dumping many small arrays cost more), and so do all rows on SQLite,
which has no arrays; the list's columns are named by a sub-select.
"""

from collections.abc import Sequence

from django.db import connection

# From how many rows the columns go as arrays on PostgreSQL.
ARRAYS_FROM = 32


def rows_table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence]) -> tuple[str, list]:
    """``(sql, params)`` of a FROM item ``(...) AS v`` whose columns are ``columns`` (name, PostgreSQL type, e.g.
    ``("id", "bigint")``) and whose rows are ``rows`` (one value per column, in order). At least one row."""
    names = ", ".join(name for name, _ in columns)
    if connection.vendor == "postgresql" and len(rows) >= ARRAYS_FROM:
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        return f"unnest({arrays}) AS v({names})", [list(column) for column in zip(*rows, strict=True)]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    named = ", ".join(f"column{n} AS {name}" for n, (name, _) in enumerate(columns, start=1))
    values = ", ".join([row] * len(rows))
    # Column names and types are the caller's constants; every value is a parameter.
    sql = f"(SELECT {named} FROM (VALUES {values}) AS listed) AS v"  # noqa: S608
    return sql, [value for r in rows for value in r]
