"""Reading a value for a declared attribute, whatever way it came in: a form, the REST API's JSON or a CSV cell.

One parser per type, in one place, so that the admin, the API and the CSV import accept exactly the same values and
refuse the others with the same words (docs/attributes.md, "Types and the values they accept"):

- text: one line, no control characters, at most 255 characters (``fieldrules``: the rule every text field keeps);
- number: digits with an optional sign and decimal point (``-12.5``), at most 18 digits before the point and 6
  after it (the column's precision: a value is never rounded behind the person's back);
- date: ``YYYY-MM-DD``, and only a day that exists;
- yes or no: yes/no, y/n, true/false, 1/0, on/off, in any case;
- one of a list: one of the declared choices, in any case, stored as declared.

An empty value (None, "" or only spaces) means "no value": a caller clears the attribute, or (the import) leaves it.
A problem is a sentence that follows the attribute's key ("birthday: '31/02/1990' is not a date (use YYYY-MM-DD)").
It quotes the value, shortened, so that whoever sent it can find it; not a text value (a refused text is told by its
rule, as every form does) nor anything that looks like an email address (it may be someone's address in the wrong
column).
"""

import re
from datetime import date
from decimal import Decimal

from .fieldrules import TextRule
from .models import Attribute, AttributeType

TEXT_RULE = TextRule("The value", 255)
# Groups: the digits before the point, and after it (either may be empty, not both).
NUMBER_PATTERN = re.compile(r"[+-]?(?:(\d+)(?:\.(\d*))?|\.(\d+))")
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
INTEGER_DIGITS, DECIMAL_PLACES = 18, 6  # AttributeValue.number: max_digits 24, decimal_places 6
NUMBER_LIMIT = Decimal(10) ** INTEGER_DIGITS  # the smallest number too large
FAST_DIGITS = 28  # characters of a number read off its digits: within Decimal's default precision
YES = frozenset({"yes", "y", "true", "1", "on"})
NO = frozenset({"no", "n", "false", "0", "off"})

# The AttributeValue column each type is stored in.
COLUMN = {
    AttributeType.TEXT: "text",
    AttributeType.CHOICE: "text",
    AttributeType.NUMBER: "number",
    AttributeType.DATE: "date",
    AttributeType.BOOLEAN: "boolean",
}


class AttributeValueProblem(ValueError):
    """A value that its attribute's type cannot take; the message says what is wrong, after the key.

    The message quotes the value (short of an address) for the person who just typed or sent it: the admin's form
    and the API's answer. ``without_value`` says the same without it ("is not a date (use YYYY-MM-DD)."), for what
    is kept: an import's row errors never repeat a cell (docs/imports.md), as they outlive the person's erasure."""

    def __init__(self, problem: str, raw=None, *, subject: str | None = None):
        if subject is None and raw is not None:
            subject = _quoted(raw)
        super().__init__(f"{subject} {problem}" if subject else problem)
        self.without_value = problem


def _quoted(raw) -> str:
    text = str(raw)
    if "@" in text:
        return "the value"
    return "'" + (text if len(text) <= 40 else text[:39] + "…") + "'"


def value_is_empty(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _text(raw, attribute: Attribute) -> str:
    if not isinstance(raw, str):
        raise AttributeValueProblem("must be text.")
    value = TEXT_RULE.normalise(raw)
    if problem := TEXT_RULE.problem(value):
        raise AttributeValueProblem(problem, subject="the value")
    return value


def _number(raw, attribute: Attribute) -> Decimal:
    if isinstance(raw, bool):  # a JSON true is not 1
        raise AttributeValueProblem("is not a number.", raw)
    written = NUMBER_PATTERN.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if written and written[0].isascii() and len(written[0]) <= FAST_DIGITS:
        # Text, as a CSV file brings a million of: the sizes are read off the digits, without Decimal arithmetic.
        # (Only short ASCII: other digits' zeros, and numbers past Decimal's 28-digit precision, which its
        # arithmetic rounds, take the way below.)
        whole, fraction = written[1] or "", written[2] or written[3] or ""
        _number_size_check(
            raw,
            too_many_places=len(fraction.rstrip("0")) > DECIMAL_PLACES,
            too_large=len(whole.lstrip("0")) > INTEGER_DIGITS,
        )
        return Decimal(written[0])
    if written:
        value = Decimal(written[0])
    elif isinstance(raw, int | Decimal):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(repr(raw))  # 0.1 as written, not as the binary float holds it
    else:
        raise AttributeValueProblem("is not a number (use digits and a point, like 1250.50).", raw)
    if not value.is_finite():  # NaN, infinity
        raise AttributeValueProblem("is not a number.", raw)
    _number_size_check(
        raw,
        too_many_places=_places(value) > DECIMAL_PLACES,
        too_large=abs(value) >= NUMBER_LIMIT,
    )
    return value


def _places(value: Decimal) -> int:
    """Decimal places written, less trailing zeros (1.500 has 1, 0.000 none), read off the digits: ``normalize()``
    would round to the context's 28 significant digits first, and so pass 1.0000000000000000000000000001 as 1."""
    _sign, digits, exponent = value.as_tuple()
    if not any(digits):
        return 0
    zeros = 0
    while exponent + zeros < 0 and digits[-1 - zeros] == 0:
        zeros += 1
    return max(0, -(exponent + zeros))


def _number_size_check(raw, *, too_many_places: bool, too_large: bool) -> None:
    """Refuse what the column cannot hold, saying which: more than DECIMAL_PLACES places, or INTEGER_DIGITS digits
    before the point."""
    if too_many_places:
        raise AttributeValueProblem(f"has more than {DECIMAL_PLACES} decimal places.", raw)
    if too_large:
        raise AttributeValueProblem(f"is too large (at most {INTEGER_DIGITS} digits before the point).", raw)


def _date(raw, attribute: Attribute) -> date:
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str) and DATE_PATTERN.fullmatch(raw.strip()):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise AttributeValueProblem("is not a date (use YYYY-MM-DD).", raw)


def _boolean(raw, attribute: Attribute) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower() if isinstance(raw, str | int) else None
    if word in YES:
        return True
    if word in NO:
        return False
    raise AttributeValueProblem("is not yes or no (use yes, no, true, false, 1 or 0).", raw)


def choice_matching(raw, choices) -> str | None:
    """The one of ``choices`` that ``raw`` names, in any case and normalised as values are (NFC, no spaces at
    either end), as declared ("GOLD" is "Gold"); None when it names none. Values, imports and segments all match so."""
    if isinstance(raw, str):
        wanted = TEXT_RULE.normalise(raw).casefold()
        for choice in choices:
            if choice.casefold() == wanted:
                return choice
    return None


def _choice(raw, attribute: Attribute) -> str:
    if (choice := choice_matching(raw, attribute.choices)) is not None:
        return choice
    offered = ", ".join(attribute.choices) or "none declared yet"
    raise AttributeValueProblem(f"is not one of the choices ({offered}).", raw)


PARSERS = {
    AttributeType.TEXT: _text,
    AttributeType.NUMBER: _number,
    AttributeType.DATE: _date,
    AttributeType.BOOLEAN: _boolean,
    AttributeType.CHOICE: _choice,
}


def attribute_value_parse(attribute: Attribute, raw):
    """The typed value of ``raw`` for ``attribute`` (str, Decimal, date or bool), or None for an empty value.
    Raises AttributeValueProblem saying what is wrong (the caller puts the key or column in front)."""
    if value_is_empty(raw):
        return None
    return PARSERS[attribute.type](raw, attribute)


def attribute_value_shown(value):
    """A stored value as JSON and exports show it: numbers as numbers (whole ones without a point), dates as
    YYYY-MM-DD, yes/no as true/false, text as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def attribute_value_text(value) -> str:
    """A stored value as text, for a CSV file or a person's copy of their data: 12.5 (never 12.500000 or 1.25E+1),
    1990-02-28, yes or no, the text itself."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def stored_value(row) -> object:
    """The value an AttributeValue row holds, from the column of its attribute's type (``row.attribute`` loaded)."""
    return getattr(row, COLUMN[row.attribute.type])
