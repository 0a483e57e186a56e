"""Merge fields: ``{{ first_name }}``, ``{{ first_name|there }}`` (with a fallback), and the personal links.

A campaign is rendered once into a ``MergeTemplate``: the text split around its merge tags. Personalising
for one recipient is then a join of precomputed pieces with that recipient's escaped values; no template
engine or CSS inliner runs per recipient.
"""

import html
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

# Names an author may use, and what each means.
MERGE_FIELDS = {
    "first_name": "The recipient's first name (give a fallback: {{ first_name|there }})",
    "preferences_url": "Link to the recipient's Newsletter Subscription page",
    "unsubscribe_url": "Link that unsubscribes the recipient from this email's topic",
    "view_in_browser_url": "Link to this email as a web page",
}
# Spaces inside a tag may arrive URL-encoded when the tag stands in an href (the CSS inliner encodes them).
_SPACE = r"(?:\s|%20)*"
MERGE_TAG = re.compile(r"\{\{" + _SPACE + r"([A-Za-z_][A-Za-z0-9_]*)" + _SPACE + r"(?:\|([^{}]*?))?" + _SPACE + r"\}\}")


def merge_fields_unknown(text: str) -> list[str]:
    """The merge tag names in ``text`` that are not merge fields, in order of appearance."""
    return [m.group(1) for m in MERGE_TAG.finditer(text or "") if m.group(1) not in MERGE_FIELDS]


def merge_fields_validate(text: str, *, field: str) -> None:
    """Raise a ValidationError naming the unknown merge field(s) and the form field they are in."""
    unknown = merge_fields_unknown(text)
    if unknown:
        names = ", ".join(f"{{{{ {name} }}}}" for name in dict.fromkeys(unknown))
        known = ", ".join(MERGE_FIELDS)
        raise ValidationError(f"Unknown merge field {names} in {field}. Known fields: {known}.", code="merge_field")


@dataclass(frozen=True)
class MergeTemplate:
    """Text with merge tags, split once: literal pieces alternate with (field, fallback) pairs."""

    pieces: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]
    is_html: bool

    @classmethod
    def compile(cls, text: str, *, is_html: bool) -> "MergeTemplate":
        pieces, fields, last = [], [], 0
        for match in MERGE_TAG.finditer(text):
            pieces.append(text[last : match.start()])
            fallback = (match.group(2) or "").strip()
            # In HTML the fallback was escaped when the page rendered; keep it in plain form here.
            fields.append((match.group(1), html.unescape(fallback) if is_html else fallback))
            last = match.end()
        pieces.append(text[last:])
        return cls(tuple(pieces), tuple(fields), is_html)

    def render(self, values: dict[str, str]) -> str:
        """Substitute one recipient's values (HTML-escaped in HTML; missing values use the fallback)."""
        escape = html.escape if self.is_html else str
        out = [self.pieces[0]]
        for (name, fallback), piece in zip(self.fields, self.pieces[1:], strict=True):
            out.append(escape(values.get(name) or fallback))
            out.append(piece)
        return "".join(out)


def header_safe(value: str) -> str:
    """A value for an email header: line breaks (header injection) become spaces."""
    return " ".join((value or "").splitlines())
