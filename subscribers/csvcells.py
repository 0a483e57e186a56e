"""CSV cells that a spreadsheet will show as text, never run as a formula (CSV injection)."""

# A spreadsheet treats a cell beginning with one of these as a formula (or, for tab and CR, strips them and
# then may). Such a cell gets a leading apostrophe, which shows the text as written.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text
