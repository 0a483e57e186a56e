"""Merge fields: ``{{ first_name }}``, ``{{ first_name|there }}`` (with a fallback), and the personal links.

A campaign is rendered once into a ``MergeTemplate``: the text split around its merge tags. Personalising
for one recipient is then a join of precomputed pieces with that recipient's escaped values; no template
engine or CSS inliner runs per recipient.
"""

import functools
import html
import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from mailer.mime import qp_encode, qp_soft_end

# Names an author may use, and what each means.
MERGE_FIELDS = {
    "first_name": "The recipient's first name (give a fallback: {{ first_name|there }})",
    "preferences_url": "Link to the recipient's Newsletter Subscription page",
    "unsubscribe_url": "Link that unsubscribes the recipient from this email's topic",
    "view_in_browser_url": "Link to this email as a web page",
    "subscribed_topics": "The campaign's topics the recipient subscribed to, such as 'New arrivals and Offers'",
}
# Spaces inside a tag may arrive URL-encoded when the tag stands in an href (the CSS inliner encodes them).
_SPACE = r"(?:\s|%20)*"
MERGE_TAG = re.compile(r"\{\{" + _SPACE + r"([A-Za-z_][A-Za-z0-9_]*)" + _SPACE + r"(?:\|([^{}]*?))?" + _SPACE + r"\}\}")


LINK_FIELDS = {"preferences_url", "unsubscribe_url", "view_in_browser_url"}
# Anything that opens with {{ and closes with }}, even with markup inside (a rich-text editor can put a <b>
# in the middle of a tag): each must be exactly one valid merge tag, or it would be sent as it stands.
_BRACES = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_MARKUP = re.compile(r"<[^>]*>")
_HREF = re.compile(r"""href\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


def merge_fields_unknown(text: str) -> list[str]:
    """The merge tags in ``text`` that are not valid merge fields, as written (markup removed)."""
    problems = []
    for braces in _BRACES.findall(text or ""):
        tag = MERGE_TAG.fullmatch(braces)
        if tag is None or tag.group(1) not in MERGE_FIELDS:
            problems.append(" ".join(_MARKUP.sub("", braces).split()))
    return problems


def merge_fields_in_links(text: str) -> list[str]:
    """Merge fields other than the personal links used inside a link's address (href)."""
    return [
        tag.group(1)
        for href in _HREF.findall(text or "")
        for tag in MERGE_TAG.finditer(href)
        if tag.group(1) not in LINK_FIELDS
    ]


def merge_fields_validate(text: str, *, field: str) -> None:
    """Raise a ValidationError naming each invalid merge tag and the form field it is in."""
    unknown = merge_fields_unknown(text)
    if unknown:
        names = ", ".join(dict.fromkeys(unknown))
        known = ", ".join(MERGE_FIELDS)
        raise ValidationError(
            f"Unknown or mistyped merge field {names} in {field}. Known fields: {known}.", code="merge_field"
        )
    misplaced = merge_fields_in_links(text)
    if misplaced:
        names = ", ".join(f"{{{{ {name} }}}}" for name in dict.fromkeys(misplaced))
        raise ValidationError(
            f"{names} cannot be part of a link address in {field}: links may use only "
            + ", ".join(sorted(LINK_FIELDS))
            + ".",
            code="merge_field_in_link",
        )


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

    @functools.cached_property
    def _qp_pieces(self) -> tuple[bytes, ...]:
        *inner, last = self.pieces
        return (*(qp_soft_end(qp_encode(piece)) for piece in inner), qp_encode(last))

    def render_qp(self, values: dict[str, str]) -> bytes:
        """``render(values)`` as quoted-printable: the literal pieces were encoded once, only the values are
        encoded here (a message's HTML took 150 µs to encode whole, per recipient)."""
        escape = html.escape if self.is_html else str
        pieces = self._qp_pieces
        out = [pieces[0]]
        for (name, fallback), piece in zip(self.fields, pieces[1:], strict=True):
            out.append(qp_soft_end(qp_encode(escape(values.get(name) or fallback))))
            out.append(piece)
        return b"".join(out)


def header_safe(value: str) -> str:
    """A value for an email header: line breaks (header injection) and other control characters become
    spaces."""
    value = value or ""
    if value.isprintable():  # no control character: only runs of spaces to collapse
        return " ".join(value.split())
    return " ".join("".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in value).split())
