"""Paging through the admin's listings of large tables by position (keyset), with the total kept between pages.

**By position, not by number.** A page numbered N is read with ``OFFSET``: the database reads and throws away every
row before it, so the 100,000th page of three million consent events took seconds where the first took
milliseconds (docs/BENCHMARKS.md, "The admin over a million subscribers"). Here a link carries the position of the
row at the page's edge instead (``?after=`` or ``?before=``, an opaque token holding that row's values of the
listing's ordering), and the next page is "the rows after it" on an ordering an index serves: any page costs what
the first does, and rows added meanwhile neither repeat nor go missing. ``?last=1`` is the far end (the oldest
events): the ordering read backwards from the start.

An ordering (``Keyset``) is a tuple of fields whose last is unique (the key), so that rows with the same timestamp
still have a place; every field must be NOT NULL, and an index on the fields in that order (or all reversed) must
exist. The position of a row is its values of those fields, and "after" is a row comparison, ``(a, id) < (x, y)``,
which PostgreSQL answers from that index starting at the position (with an index on ``a`` alone it would read, and
sort, every row at instant ``x`` first: 165 ms inside 300,000 events of one import, docs/BENCHMARKS.md).

A token is not signed: it is only a place in a listing the reader may see anyway. One that does not decode (cut
short, edited, of another listing) gives the first page with a message saying so (``CursorError``), never an error.

**The total, kept.** Django's paginator counts the listing for every page: over three million consent events that
is 0.2 to 0.4 s a page. Over a table larger than ``ADMIN_COUNT_KEPT_ABOVE`` rows (PostgreSQL's own estimate, read
at no cost), a listing's count is kept in the cache for ``COUNT_KEPT_SECONDS`` under the query it counts (filters
and search included), with the moment it was made, which the listing shows ("counted 40 seconds ago").

``KeysetListingMixin`` puts both on a Wagtail ``IndexView``; ``keyset_page`` and ``KeysetRequest`` serve a view of
our own (a webhook endpoint's deliveries).
"""

import base64
import binascii
import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.utils import timezone
from django.utils.functional import cached_property

from ..kept_counts import table_estimate

COUNT_KEPT_SECONDS = 60
NEWEST_FIRST_LABELS = ("Newest", "Newer", "Older", "Oldest")  # the page links of a listing newest first


class CursorError(ValueError):
    """A page link's position that does not decode for this listing."""


@dataclass(frozen=True)
class Keyset:
    """A listing's ordering by position: field names, all with "-" (descending) or none, the last one unique."""

    fields: tuple[str, ...]

    def __post_init__(self):
        if len({field.startswith("-") for field in self.fields}) != 1:
            raise ValueError(f"A keyset orders every field the same way (a row comparison): {self.fields}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(field.lstrip("-") for field in self.fields)

    def reversed(self) -> "Keyset":
        return Keyset(tuple(field[1:] if field.startswith("-") else "-" + field for field in self.fields))

    def position(self, row) -> tuple:
        return tuple(getattr(row, "pk" if name == "pk" else name) for name in self.names)

    def encode(self, row) -> str:
        values = [value.isoformat() if isinstance(value, date) else value for value in self.position(row)]
        return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")

    def decode(self, model, token: str) -> tuple:
        """The position a token holds, each value checked by its model field; ``CursorError`` if it does not fit."""
        try:
            values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (binascii.Error, ValueError) as err:
            raise CursorError("not a position in this listing") from err
        if not isinstance(values, list) or len(values) != len(self.fields):
            raise CursorError("not a position in this listing")
        position = []
        for name, value in zip(self.names, values, strict=True):
            if value is None or isinstance(value, (list, dict, bool)):
                raise CursorError(f"no {name} in the position")
            try:
                field = model._meta.pk if name == "pk" else model._meta.get_field(name)
                value = field.to_python(value)
            except (FieldDoesNotExist, ValidationError) as err:
                raise CursorError(f"{name} is not valid in the position") from err
            if isinstance(value, datetime) and settings.USE_TZ and timezone.is_naive(value):
                raise CursorError(f"{name} has no time zone in the position")
            position.append(value)
        return tuple(position)

    def after(self, queryset: QuerySet, position: tuple) -> QuerySet:
        """The rows of ``queryset`` after ``position`` in this ordering (ordered by it)."""
        # A row comparison, ``(occurred_at, id) < (x, y)``, which PostgreSQL answers from an index on those columns
        # starting exactly at the position, even inside a million events of one instant (an import's); Django writes
        # it out as ``a < x OR (a = x AND id < y)`` where rows cannot be compared (SQLite).
        lookup = TupleLessThan if self.fields[0].startswith("-") else TupleGreaterThan
        return queryset.filter(lookup(Tuple(*(F(name) for name in self.names)), position)).order_by(*self.fields)


@dataclass(frozen=True)
class KeysetPage:
    """One page: its rows in the listing's order, and the tokens of the pages beside it (None: no such page)."""

    object_list: list
    previous: str | None
    next: str | None
    is_first: bool
    is_last: bool

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)

    def has_other_pages(self) -> bool:
        return not (self.is_first and self.is_last)


def keyset_page(
    queryset: QuerySet,
    *,
    keyset: Keyset,
    size: int,
    after: tuple | None = None,
    before: tuple | None = None,
    last: bool = False,
) -> KeysetPage:
    """The ``size`` rows after ``after``, before ``before``, at the far end (``last``) or at the start.

    One query of ``size + 1`` rows: the extra row says whether there is more in that direction. A position with
    nothing beyond it (its rows gone, or a token from another filter) gives the first page."""
    if before is None and not last:
        rows = list((keyset.after(queryset, after) if after else queryset.order_by(*keyset.fields))[: size + 1])
        if after and not rows:
            return keyset_page(queryset, keyset=keyset, size=size)
        more = len(rows) > size
        rows = rows[:size]
        return KeysetPage(
            object_list=rows,
            previous=keyset.encode(rows[0]) if after else None,
            next=keyset.encode(rows[-1]) if more else None,
            is_first=after is None,
            is_last=not more,
        )
    backwards = keyset.reversed()
    rows = list((backwards.after(queryset, before) if before else queryset.order_by(*backwards.fields))[: size + 1])
    if before and not rows:
        return keyset_page(queryset, keyset=keyset, size=size)
    more = len(rows) > size
    # Back at the start, the first page is what lies before the position, even if fewer than ``size`` rows: a whole
    # first page would repeat rows of the page just left.
    rows = rows[:size][::-1]
    return KeysetPage(
        object_list=rows,
        previous=keyset.encode(rows[0]) if more else None,
        next=keyset.encode(rows[-1]) if before and rows else None,
        is_first=not more,
        is_last=before is None,
    )


class KeysetRequest:
    """A request's place in a keyset listing: ``?after=``, ``?before=`` or ``?last=1``; ``error`` says why a token
    was set aside (the first page is shown instead)."""

    def __init__(self, query, *, model, keyset: Keyset):
        self.error = ""
        self.after = self.before = None
        self.last = query.get("last") == "1"
        try:
            if query.get("after"):
                self.after = keyset.decode(model, query["after"])
            elif query.get("before"):
                self.before = keyset.decode(model, query["before"])
        except CursorError:
            self.error = "That page link is not valid here (it may have been cut short), so this is the first page."
            self.last = False

    def page(self, queryset: QuerySet, *, keyset: Keyset, size: int) -> KeysetPage:
        return keyset_page(queryset, keyset=keyset, size=size, after=self.after, before=self.before, last=self.last)


@dataclass(frozen=True)
class ListingCount:
    count: int
    counted_at: datetime | None  # None: counted for this page

    @property
    def age_seconds(self) -> int | None:
        return None if self.counted_at is None else int((timezone.now() - self.counted_at).total_seconds())


def listing_count(queryset: QuerySet) -> ListingCount:
    """The rows of a listing: counted now over a small table, kept for a minute over a large one."""
    estimate = table_estimate(queryset.model)
    if estimate is None or estimate <= settings.ADMIN_COUNT_KEPT_ABOVE:
        return ListingCount(count=queryset.count(), counted_at=None)
    sql, params = queryset.order_by().query.sql_with_params()
    key = "listing-count:" + hashlib.sha256(repr((sql, params)).encode()).hexdigest()
    kept = cache.get(key)
    if kept is None:
        kept = (queryset.count(), timezone.now())
        cache.set(key, kept, COUNT_KEPT_SECONDS)
    return ListingCount(count=kept[0], counted_at=kept[1])


class KeptCountPaginator:
    """What Wagtail's listing templates ask a paginator, for a listing paged by position: its (kept) count."""

    def __init__(self, queryset: QuerySet):
        self.queryset = queryset

    @cached_property
    def listing_count(self) -> ListingCount:
        return listing_count(self.queryset)

    @property
    def count(self) -> int:
        return self.listing_count.count

    def get_elided_page_range(self, *args, **kwargs):
        return ()


class KeysetListingMixin:
    """A Wagtail ``IndexView`` paged by position on ``keyset`` (the default ordering), or on it backwards when the
    reader sorts its first column the other way; the other columns are not sortable, since no index serves them.
    Filters and search narrow the listing as before and stay in the page links."""

    keyset: tuple[str, ...] = ("-pk",)
    keyset_labels = ("First", "Previous", "Next", "Last")
    results_template_name = "subscribers/admin/keyset_results.html"

    @cached_property
    def keyset_default(self) -> Keyset:
        return Keyset(tuple(self.keyset))

    def get_valid_orderings(self):
        first = self.keyset_default.fields[0]
        return [first, self.keyset_default.reversed().fields[0]]

    def get_ordering(self):
        ordering = self.request.GET.get("ordering")
        return ordering if ordering in self.get_valid_orderings() else self.keyset_default.fields[0]

    @cached_property
    def keyset_ordering(self) -> Keyset:
        if self.ordering == self.keyset_default.fields[0]:
            return self.keyset_default
        return self.keyset_default.reversed()

    def order_queryset(self, queryset):
        return queryset.order_by(*self.keyset_ordering.fields)

    def get_table(self, object_list):
        sortable = self.keyset_default.names[0]
        columns = []
        for column in self.columns:
            if column.sort_key and column.sort_key != sortable:
                column = copy.copy(column)
                column.sort_key = None
                column.header = type(column).Header(column)  # the header renders from its column, not the original
            columns.append(column)
        return self.table_class(columns, object_list, **self.get_table_kwargs())

    @cached_property
    def keyset_request(self) -> KeysetRequest:
        return KeysetRequest(self.request.GET, model=self.model, keyset=self.keyset_ordering)

    def paginate_queryset(self, queryset, page_size):
        page = self.keyset_request.page(queryset, keyset=self.keyset_ordering, size=page_size)
        return KeptCountPaginator(queryset), page, page.object_list, page.has_other_pages()

    def get_context_data(self, *args, **kwargs):
        context = super().get_context_data(*args, **kwargs)
        context.update(
            {
                "keyset_error": self.keyset_request.error,
                "keyset_labels": self.keyset_labels,
                "listing_count": context["paginator"].listing_count,
            }
        )
        return context
