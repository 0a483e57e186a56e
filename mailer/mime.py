"""A fast builder for one multipart/alternative message, written as bytes.

Python's ``email`` package takes over a millisecond per message; a send builds one message per
recipient, so this writes the same MIME structure directly: UTF-8 parts in quoted-printable (7-bit safe
on the wire), RFC 2047 encoded headers where needed, CRLF line endings. Tests parse its output back with
the ``email`` package.

A part may also be given already encoded (bytes): a campaign encodes the parts of its text that are the
same for everyone once, and per recipient only the values merged between them, joined by soft line breaks
(``qp_soft_end``).
"""

import base64
import binascii
import functools
import re
import secrets
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from mailer.errors import MailerError

from .addresses import address_for_transport

MAX_ASCII_HEADER = 900  # well under RFC 5322's 998-character line limit


class HeaderInjectionError(MailerError, ValueError):
    """A header value contained a line break."""


def _checked(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjectionError(f"The {name} header contains a line break.")
    return value


# UTF-8 bytes per encoded-word: 45 bytes are 60 base64 characters, 72 with "=?utf-8?b?" and "?=" (RFC 2047
# allows 75), so a folded line stays under 78 characters.
WORD_BYTES = 45


def _encoded_words(value: str) -> str:
    """RFC 2047 "B" encoded-words, one per 45 bytes of UTF-8 (never splitting a character), folded."""
    data, words, start = value.encode("utf-8"), [], 0
    while start < len(data):
        end = min(start + WORD_BYTES, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte: back to the character start
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return "\r\n ".join(words)


def _encoded(value: str) -> str:
    """Plain ASCII stays as it is; anything else becomes RFC 2047 encoded-words."""
    # Text that merely looks like an encoded-word ("=?utf-8?b?...?=") is encoded too, so that a name merged
    # into a subject cannot make mail clients display words it does not contain.
    if value.isascii() and "=?" not in value and len(value) < MAX_ASCII_HEADER:
        return value
    return _encoded_words(value)


@functools.lru_cache(maxsize=64)
def mailbox_header(mailbox: str) -> str:
    """'Name <address>' with the display name encoded when it is not ASCII (cached: one per sender)."""
    name, address = parseaddr(mailbox)
    return formataddr((name, address_for_transport(address)), charset="utf-8")


@functools.lru_cache(maxsize=64)
def _domain_of(mailbox: str) -> str:
    return parseaddr(mailbox)[1].rpartition("@")[2] or "localhost"


def qp_encode(text: str) -> bytes:
    """UTF-8 text as quoted-printable with CRLF line breaks, no line longer than 76 characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # a bare CR is not allowed on the wire
    body = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


QP_LINE = 76
_ESCAPE_TAIL = re.compile(rb"=[0-9A-F]?$")


def qp_soft_end(encoded: bytes) -> bytes:
    """``encoded`` (from ``qp_encode``) ending in a soft line break, so that whatever follows continues its last
    line when decoded; a last line too long for the "=" is broken first, never inside an "=XX" escape."""
    if not encoded or encoded.endswith(b"\r\n"):
        return encoded
    last_break = encoded.rfind(b"\r\n")
    line_start = 0 if last_break < 0 else last_break + 2
    if len(encoded) - line_start < QP_LINE:
        return encoded + b"=\r\n"
    cut = line_start + QP_LINE - 1
    escape = _ESCAPE_TAIL.search(encoded, line_start, cut)
    if escape:
        cut = escape.start()
    return encoded[:cut] + b"=\r\n" + encoded[cut:] + b"=\r\n"


def mime_build(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str | bytes,
    html: str | bytes,
    headers: dict[str, str] | None = None,
    reply_to: str | None = None,
) -> bytes:
    """The whole message as bytes. ``text`` and ``html`` are text, or bytes already quoted-printable.
    Raises HeaderInjectionError for a line break in any header value."""
    domain = _domain_of(sender)
    lines = [
        f"From: {mailbox_header(_checked('From', sender))}",
        f"To: {address_for_transport(_checked('To', to))}",
        f"Subject: {_encoded(_checked('Subject', subject))}",
        f"Date: {formatdate(localtime=False)}",
        f"Message-ID: {make_msgid(domain=domain)}",
    ]
    if reply_to:
        lines.append(f"Reply-To: {mailbox_header(_checked('Reply-To', reply_to))}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {_encoded(_checked(name, value))}")
    boundary = "=_" + secrets.token_hex(12)
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"', "", ""]
    part_head = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    return b"".join(
        [
            "\r\n".join(lines).encode("ascii"),
            f"--{boundary}\r\n{part_head.format('plain')}".encode("ascii"),
            text if isinstance(text, bytes) else qp_encode(text),
            f"\r\n--{boundary}\r\n{part_head.format('html')}".encode("ascii"),
            html if isinstance(html, bytes) else qp_encode(html),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        ]
    )
