"""The admin's listings of people and their consent: an address searched through the index on addresses, and pages
by position with the count kept between them over a large table (``paging``).

Wagtail searches a listing's fields with ``icontains``, which reads every row: a third of a second to a second per
million subscribers (docs/BENCHMARKS.md, "The admin over a million subscribers"). A search for a whole address (one
word with an "@", the usual search of a team answering someone's request) is looked up first through the unique
index on addresses, in a millisecond; only when that finds no one is the listing searched as before, so part of an
address, a mistyped one or a first name still finds what it did. A trigram index would make those fast too, but
would cost every new subscriber: 2.4 s more per 100,000 rows imported, measured on the same table.
"""

from wagtail.admin.views.generic.models import IndexView

from ..addresses import email_normalise
from .paging import KeysetListingMixin


class KeysetIndexView(KeysetListingMixin, IndexView):
    """A Wagtail listing paged by position on its ``keyset`` (``paging``): for tables that grow without bound."""


class PeopleIndexView(KeysetIndexView):
    address_field = "email"  # the listing's path to the person's address, e.g. "subscriber__email"

    def search_queryset(self, queryset):
        term = self.search_query.strip() if self.is_searching else ""
        if "@" in term and not any(ch.isspace() for ch in term):
            exact = queryset.filter(**{self.address_field: email_normalise(term)})
            if exact.exists():
                return exact
        return super().search_queryset(queryset)
