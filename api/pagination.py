"""Cursor paging: the next page is "rows after this one" on a unique, indexed ordering, so page 10,000 costs what
page 1 does (no OFFSET), and rows added meanwhile neither repeat nor go missing."""

from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    """``?page_size=`` up to 500 (default 50); ``next`` and ``previous`` are whole URLs with an opaque cursor.

    The ordering is the primary key, newest first: unique and indexed. A view may set ``ordering`` to another
    unique indexed column."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-pk"
