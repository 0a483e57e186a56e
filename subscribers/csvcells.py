"""CSV cells that a spreadsheet will show as text, never run as a formula (CSV injection)."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# A spreadsheet treats a cell beginning with one of these as a formula (or, for tab and CR, strips them and
# then may). Such a cell gets a leading apostrophe, which shows the text as written.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# A valid address may begin with "+" or "-", which some spreadsheets (Excel) read as the start of a formula. When
# the rest is only letters, digits, dots, underscores, hyphens and plus signs, that formula cannot do anything: a
# function call needs brackets, a link to another program "|" and "!", a reference to another file "[" or quotes.
# The worst a spreadsheet can do with such a cell is show an error instead of the address.
SIGNED_PLAIN_ADDRESS = re.compile(r"[+-][\w.+-]*@[\w.-]+")
# A negative number as written: a spreadsheet reads it as that number, never as a formula (no operator follows the
# sign), so it is kept as it is: an attribute's -12.5 must read back as -12.5 (the import takes it so), not '-12.5.
NEGATIVE_NUMBER = re.compile(r"-[0-9]+(\.[0-9]+)?")


def csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) and not NEGATIVE_NUMBER.fullmatch(text) else text


def csv_address_cell(address) -> str:
    """An email address as a CSV cell for another organisation's mailing system: the exact address when it is
    valid and a spreadsheet can do nothing with it, so the recipient can write to it; otherwise as ``csv_cell``
    writes any text. An address beginning with "=" always gets the apostrophe: every spreadsheet runs it as a
    formula. See docs/privacy.md, "Email addresses in CSV files"."""
    text = "" if address is None else str(address)
    return text if signed_plain_address(text) else csv_cell(text)


def signed_plain_address(text: str) -> bool:
    """A valid address beginning with "+" or "-" that a spreadsheet can do nothing with (see above). The CSV import
    accepts exactly these in its email column, so that a file written here imports back as it was."""
    if not SIGNED_PLAIN_ADDRESS.fullmatch(text):
        return False
    try:
        validate_email(text)  # the validator every form uses; the regex alone allows "-.@a..b"
    except ValidationError:
        return False
    return True
