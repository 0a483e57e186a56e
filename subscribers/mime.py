"""A fast builder for one multipart/alternative message, written as bytes.

Python's ``email`` package takes over a millisecond per message; a send builds one message per
recipient, so this writes the same MIME structure directly: UTF-8 parts in quoted-printable (7-bit safe
on the wire), RFC 2047 encoded headers where needed, CRLF line endings. Tests parse its output back with
the ``email`` package.
"""

import binascii
import functools
import secrets
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from .addresses import address_for_transport

MAX_ASCII_HEADER = 900  # well under RFC 5322's 998-character line limit


class HeaderInjectionError(ValueError):
    """A header value contained a line break."""


def _checked(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjectionError(f"The {name} header contains a line break.")
    return value


def _encoded(value: str) -> str:
    """Plain ASCII stays as it is; anything else becomes RFC 2047 encoded-words."""
    # Text that merely looks like an encoded-word ("=?utf-8?b?...?=") is encoded too, so that a name merged
    # into a subject cannot make mail clients display words it does not contain.
    if value.isascii() and "=?" not in value and len(value) < MAX_ASCII_HEADER:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


@functools.lru_cache(maxsize=64)
def mailbox_header(mailbox: str) -> str:
    """'Name <address>' with the display name encoded when it is not ASCII (cached: one per sender)."""
    name, address = parseaddr(mailbox)
    return formataddr((name, address_for_transport(address)), charset="utf-8")


@functools.lru_cache(maxsize=64)
def _domain_of(mailbox: str) -> str:
    return parseaddr(mailbox)[1].rpartition("@")[2] or "localhost"


def _qp(text: str) -> bytes:
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # a bare CR is not allowed on the wire
    body = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def mime_build(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    headers: dict[str, str] | None = None,
    reply_to: str | None = None,
) -> bytes:
    """The whole message as bytes. Raises HeaderInjectionError for a line break in any header value."""
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
            _qp(text),
            f"\r\n--{boundary}\r\n{part_head.format('html')}".encode("ascii"),
            _qp(html),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        ]
    )
