"""CSV import of subscribers: one engine for the management command and the admin (see docs/imports.md)."""

from .engine import ImportReport, subscribers_import
from .reader import ATTRIBUTE_FIELD, FIELDS, csv_header_read, field_label, mapping_check, mapping_guess
from .rows import ImportOptions

__all__ = [
    "ATTRIBUTE_FIELD",
    "FIELDS",
    "ImportOptions",
    "ImportReport",
    "csv_header_read",
    "field_label",
    "mapping_check",
    "mapping_guess",
    "subscribers_import",
]
