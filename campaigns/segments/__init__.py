"""Segments: saved condition trees over subscribers, stored as JSON and compiled to the ORM (docs/segments.md).

``models`` holds the ``Segment`` row; ``grammar`` checks a definition against the whitelist; ``compiler`` turns a
checked definition into a ``Q`` over ``Subscriber``; ``selectors`` count and sample; ``services`` create, change
and delete. This package imports nothing at import time, because ``campaigns.models`` imports its models.
"""
