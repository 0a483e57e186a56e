"""Reading an uploaded CSV file as a stream: UTF-8 checked line by line, every line's length bounded, the header
row found, and the columns mapped to the import's fields.

The file is never read whole: lines are read in binary with a length limit (a 10 MB line is refused after reading
``IMPORT_MAX_LINE_BYTES`` of it), refused at the first NUL byte, decoded strictly (the error names the line and the
byte), and handed to the ``csv`` module, which joins the lines of a quoted cell that contains line breaks.
"""

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from ..errors import ImportFileRefused, ImportMappingError

BOM = b"\xef\xbb\xbf"
EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# The import's fields, in the order the mapping form shows them.
FIELDS = {
    "email": "Email address",
    "first_name": "First name",
    "topic": "Topic",
    "lawful_basis": "Lawful basis",
    "consent_source": "Consent source",
    "consent_date": "Consent date",
    "consent_wording": "Consent wording",
    "policy_version": "Privacy policy version",
    "order_reference": "Order reference",
}

# A mapping names an attribute's column as "attribute:<key>" (the attribute's key).
ATTRIBUTE_FIELD = "attribute:"

# Header names (lower-case, letters and digits only) that each field is guessed from.
GUESSES = {
    "email": ("email", "emailaddress", "e-mail", "mail", "emailaddr", "address"),
    "first_name": ("firstname", "forename", "givenname", "first", "name"),
    "topic": ("topic", "list", "topicslug", "newsletter", "subscription"),
    "lawful_basis": ("lawfulbasis", "basis", "legalbasis"),
    "consent_source": ("consentsource", "source", "signupsource", "optinsource"),
    "consent_date": ("consentdate", "consentedat", "optindate", "date", "signupdate", "consentedon", "subscribedat"),
    "consent_wording": ("consentwording", "wording", "consenttext", "optinwording", "optintext"),
    "policy_version": ("policyversion", "privacypolicyversion", "policy"),
    "order_reference": ("orderreference", "orderref", "order", "ordernumber", "orderid", "orderno"),
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def mapping_guess(columns: list[str], attributes=()) -> dict[str, str]:
    """For each field, the first header column whose name looks like it ("E-mail address" -> email); then for each
    of ``attributes`` (the declared ones, from the caller), a column named like its key or label."""
    keys = {_key(c): c for c in reversed(columns)}
    guessed, used = {}, set()
    for field, names in GUESSES.items():
        for name in names:
            column = keys.get(_key(name))
            if column is not None and column not in used:
                guessed[field] = column
                used.add(column)
                break
    return attribute_columns_guess(columns, attributes, guessed) if attributes else guessed


def attribute_columns_guess(columns: list[str], attributes, mapping: dict[str, str]) -> dict[str, str]:
    """``mapping`` with, for each attribute, the first column not already mapped named like its key or its label,
    in any case ("Loyalty tier" -> tier, labelled "Loyalty tier")."""
    used = {c for c in mapping.values() if c}
    guessed = dict(mapping)
    for attribute in attributes:
        names = {attribute.key.casefold(), attribute.label.strip().casefold()}
        for column in columns:
            if column not in used and column.strip().casefold() in names:
                guessed[ATTRIBUTE_FIELD + attribute.key] = column
                used.add(column)
                break
    return guessed


@dataclass
class CsvStream:
    """The header row, then ``rows()`` yields (line number, cells) for every data row. ``bytes_read`` grows as it
    reads, for a progress bar over the file's size."""

    path: Path
    columns: list[str]
    size: int
    _lines: Iterator[str]
    _reader: "csv._reader"
    _counter: "_LineReader"

    @property
    def bytes_read(self) -> int:
        return self._counter.offset

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        try:
            for cells in self._reader:
                if not cells or not "".join(cells).strip():
                    continue  # a blank line
                yield self._reader.line_num, cells
        except csv.Error as err:
            raise ImportFileRefused(
                f"Line {self._reader.line_num}: the file is not valid CSV ({err}).", line=self._reader.line_num
            ) from err


class _LineReader:
    """Physical lines of the file, decoded from UTF-8, each at most ``limit`` bytes."""

    def __init__(self, handle, limit: int):
        self.handle, self.limit = handle, limit
        self.offset, self.number = 0, 0

    def __iter__(self) -> Iterator[str]:
        while True:
            raw = self.handle.readline(self.limit + 1)
            if not raw:
                return
            self.number += 1
            if len(raw) > self.limit:
                raise ImportFileRefused(
                    f"Line {self.number} is longer than {size_text(self.limit)}; a CSV file of subscribers never has "
                    "lines that long. Is this the right file?",
                    line=self.number,
                )
            start = self.offset
            self.offset += len(raw)
            if self.number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
                start += len(BOM)
            nul = raw.find(b"\x00")
            if nul >= 0:
                # Text never holds one, and PostgreSQL cannot store one: a spreadsheet's own format, or UTF-16.
                raise ImportFileRefused(
                    f"Line {self.number} holds a NUL byte (byte {start + nul + 1} of the file), which a CSV file of "
                    "text never has: is it a spreadsheet file, or saved as UTF-16? Save it as “CSV UTF-8” and "
                    "upload it again.",
                    line=self.number,
                )
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ImportFileRefused(
                    f"Line {self.number} is not UTF-8 (byte {start + err.start + 1} of the file, "
                    f"0x{raw[err.start]:02x}). Save the file as “CSV UTF-8” and upload it again.",
                    line=self.number,
                ) from err


def size_text(n: int) -> str:
    return f"{n / 1024 / 1024:g} MiB" if n >= 1024 * 1024 else f"{n / 1024:g} KiB"


def csv_open(path: Path, handle) -> CsvStream:
    """Check the file's size and read its header row from ``handle`` (opened in binary). Raises ImportFileRefused."""
    size = Path(path).stat().st_size
    if size == 0:
        raise ImportFileRefused("The file is empty.")
    if size > settings.IMPORT_MAX_FILE_BYTES:
        raise ImportFileRefused(
            f"The file is {size_text(size)}, over the limit of {size_text(settings.IMPORT_MAX_FILE_BYTES)}. "
            "Split it into smaller files."
        )
    counter = _LineReader(handle, settings.IMPORT_MAX_LINE_BYTES)
    lines = iter(counter)
    csv.field_size_limit(settings.IMPORT_MAX_LINE_BYTES)
    reader = csv.reader(lines, strict=True)
    stream = CsvStream(path=path, columns=[], size=size, _lines=lines, _reader=reader, _counter=counter)
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise ImportFileRefused(f"Line 1: the header row is not valid CSV ({err}).", line=1) from err
    if header is None or not any(cell.strip() for cell in header):
        raise ImportFileRefused("The file has no header row: its first line must name the columns.", line=1)
    columns = [cell.strip() for cell in header]
    if "" in columns or len(set(columns)) != len(columns):
        raise ImportFileRefused(
            "Line 1: every column of the header row needs a name, and no two the same name.", line=1
        )
    if any(EMAIL_LIKE.fullmatch(c) for c in columns):
        raise ImportFileRefused(
            "Line 1 holds email addresses, not column names: add a header row (for example “Email”).", line=1
        )
    stream.columns = columns
    return stream


def mapping_check(*, columns: list[str], mapping: dict[str, str]) -> dict[str, int]:
    """The position of each mapped field's column. Raises ImportMappingError for an unknown field or column,
    a column mapped twice, or no email column."""
    positions = {}
    for field, column in mapping.items():
        if not column:
            continue
        if field not in FIELDS and not field.startswith(ATTRIBUTE_FIELD):
            raise ImportMappingError(f"There is no field “{field}”; the fields are {', '.join(FIELDS)}.")
        if column not in columns:
            raise ImportMappingError(f"The file has no column “{column}” (for {_field_name(field)}).")
        if columns.index(column) in positions.values():
            raise ImportMappingError(f"The column “{column}” is chosen for two fields.")
        positions[field] = columns.index(column)
    if "email" not in positions:
        raise ImportMappingError(
            "No column is chosen for the email address, and none is named like one (“Email”, “E-mail address”)."
        )
    return positions


def field_label(field: str) -> str:
    """A mapping's field as people read it: "Email address", or "Attribute “tier”"."""
    return FIELDS[field] if field in FIELDS else f"Attribute “{field[len(ATTRIBUTE_FIELD) :]}”"


def _field_name(field: str) -> str:
    return FIELDS[field].lower() if field in FIELDS else f"the attribute {field[len(ATTRIBUTE_FIELD) :]}"


def csv_header_read(path: Path) -> list[str]:
    """The header row of the file at ``path`` (its size, encoding and header checked). Raises ImportFileRefused."""
    with open(path, "rb") as handle:
        return csv_open(path, handle).columns
