"""Counts too slow for a page, made by a task and kept in the cache, always shown with the moment they were made.

A page asks ``kept_read`` for what is kept under a key: if nothing is, or it is older than the page's freshness, or
the user asked for a recount, it starts the count (``start``, after the transaction commits) unless one of the same
key is running, and shows what it has meanwhile. The task calls ``kept_store`` with the counting function. Used by
the send page's audience counts (campaigns.sending.audience_counts) and by a large send's report
(campaigns.results.kept); ``table_estimate`` tells those pages, at no cost, whether a table is large.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

COUNTING_SECONDS = 300  # how long a count in progress keeps others from starting (its task may have been lost)
KEPT_SECONDS = 86400


@dataclass(frozen=True)
class Kept:
    value: object | None  # None: not counted yet (a count is running)
    counted_at: datetime | None
    counting: bool  # a count is running (the value, if any, is older)

    @property
    def age_seconds(self) -> int | None:
        return None if self.counted_at is None else int((timezone.now() - self.counted_at).total_seconds())


def kept_read(key: str, *, fresh_seconds: int, start: Callable[[], None], recount: bool = False) -> Kept:
    """What is kept under ``key``; starts a count when there is none, it is older than ``fresh_seconds`` or
    ``recount``, and no count of this key runs."""
    kept = cache.get(key)
    value, counted_at = kept if kept else (None, None)
    stale = counted_at is None or (timezone.now() - counted_at).total_seconds() > fresh_seconds
    counting = cache.get(key + ":counting") is not None
    if (stale or recount) and not counting and cache.add(key + ":counting", 1, COUNTING_SECONDS):
        transaction.on_commit(start)
        counting = True
    return Kept(value=value, counted_at=counted_at, counting=counting)


def kept_store(key: str, count: Callable[[], object]):
    """Count now and keep the answer under ``key`` (the task's work); a count that fails frees the key for the
    next page to start again."""
    try:
        value = count()
        cache.set(key, (value, timezone.now()), KEPT_SECONDS)
        return value
    finally:
        cache.delete(key + ":counting")


def table_estimate(model) -> int | None:
    """PostgreSQL's estimate of the rows in ``model``'s table, from its statistics (no scan; -1 before the table was
    first analysed), or None on another database. What decides whether a page counts while it loads."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return row[0] if row else None
