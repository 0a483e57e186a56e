"""Paging through the admin's listings of large tables without counting them on every page.

Django's paginator counts the whole listing on every page it shows: over three million consent events that is
0.2 to 0.4 s of each page (docs/BENCHMARKS.md, "The admin over a million subscribers"). Over a table larger than
``ADMIN_COUNT_KEPT_ABOVE`` rows (PostgreSQL's own estimate, read at no cost), a listing's count is kept in the
cache for ``COUNT_KEPT_SECONDS`` under the query it counts (filters and search included), so paging through it
costs one count a minute rather than one per page. The
listings are newest first, so a count that is a minute behind only hides, for that minute, the oldest rows of the
last page; "Page 3 of 150,001" is then "of 150,000".
"""

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.utils.functional import cached_property
from wagtail.admin.paginator import WagtailPaginator

from ..kept_counts import table_estimate

COUNT_KEPT_SECONDS = 60


class KeptCountPaginator(WagtailPaginator):
    @cached_property
    def count(self) -> int:
        model = getattr(self.object_list, "model", None)
        estimate = table_estimate(model) if model is not None else None
        if estimate is None or estimate <= settings.ADMIN_COUNT_KEPT_ABOVE:
            return super().count
        sql, params = self.object_list.query.sql_with_params()
        key = "listing-count:" + hashlib.sha256(repr((sql, params)).encode()).hexdigest()
        count = cache.get(key)
        if count is None:
            count = super().count
            cache.set(key, count, COUNT_KEPT_SECONDS)
        return count
