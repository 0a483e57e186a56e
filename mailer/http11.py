"""HTTP/1.1 on one kept-alive connection: write a request, read its response.

Just what an API client needs that sends a body and reads a small answer, many times a second: ``http.client``
parses every response's headers through the ``email`` package, which costs more than the rest of the exchange.
This reads status line, headers and body (Content-Length, chunked, or until the connection closes) directly,
with limits on line length, header count and body size. It connects directly, through an HTTP proxy's
CONNECT tunnel, and over TLS with the caller's context (certificates and host name verified).

Failures say how far the request got: ``WriteFailed`` (the request was not written whole, so the server
cannot have acted on it) or ``ReadFailed`` (it was written, and no complete response came back).
"""

import select
import socket
import ssl
from dataclasses import dataclass

from mailer.errors import MailerError

MAX_LINE = 65536
MAX_HEADERS = 100
MAX_BODY = 10 * 1024 * 1024


class WriteFailed(MailerError):
    """The request was not written whole."""


class ReadFailed(MailerError):
    """The request was written; no complete response was read."""


class ProtocolError(MailerError, ValueError):
    """The other end does not speak HTTP/1.x as expected."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    keep_alive: bool


class Connection:
    """One TCP (or TLS) connection to ``host:port``, optionally through ``proxy`` (host, port) by CONNECT.
    Opening it raises OSError (refused, unreachable, timeout, TLS failure, proxy refusal)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None,
        connect_timeout: float,
        read_timeout: float,
        proxy: tuple[str, int] | None = None,
    ):
        sock = socket.create_connection(proxy or (host, port), timeout=connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if proxy:
                _tunnel(sock, host, port)
            if tls:
                sock = tls.wrap_socket(sock, server_hostname=host)
            sock.settimeout(read_timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.reader = sock.makefile("rb")

    def is_dropped(self) -> bool:
        """Whether the far end closed the connection while it sat idle (it is readable: EOF or stray bytes)."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def exchange(self, head: bytes, body: bytes) -> Response:
        """Write a request (``head`` ends with the blank line) and read its response."""
        try:
            self.sock.sendall(head + body)
        except OSError as err:
            raise WriteFailed(f"{type(err).__name__}: {err}") from err
        try:
            return _response_read(self.reader)
        except (OSError, ProtocolError) as err:
            raise ReadFailed(f"{type(err).__name__}: {err}") from err


def _tunnel(sock: socket.socket, host: str, port: int) -> None:
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("ascii"))
    reader = sock.makefile("rb", buffering=0)  # unbuffered: TLS must read what follows from the socket itself
    status, _, headers = _head_read(reader)
    if status != 200:
        raise ConnectionError(f"the proxy refused a tunnel to {host}:{port} (HTTP {status})")
    if "content-length" in headers or "transfer-encoding" in headers:
        raise ConnectionError("the proxy answered CONNECT with a body")


def _line(reader) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProtocolError("a response line is longer than 64 KiB")
    if not line:
        raise ConnectionError("the connection closed before the response was complete")
    return line


def _head_read(reader) -> tuple[int, str, dict[str, str]]:
    status_line = _line(reader).decode("latin-1").rstrip("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:60]!r}")
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(reader)
        if line in (b"\r\n", b"\n"):
            return int(rest[:3]), version, headers
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name.strip():
            raise ProtocolError(f"a malformed response header: {line[:60]!r}")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raise ProtocolError(f"more than {MAX_HEADERS} response headers")


def _exactly(reader, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise ConnectionError("the connection closed in the middle of the response body")
    return data


def _chunked_read(reader) -> bytes:
    chunks, total = [], 0
    while True:
        size_text = _line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"a malformed chunk size: {size_text[:20]!r}") from None
        if size == 0:
            while _line(reader) not in (b"\r\n", b"\n"):  # trailer fields, ignored
                pass
            return b"".join(chunks)
        total += size
        if total > MAX_BODY:
            raise ProtocolError("the response body is larger than 10 MiB")
        chunks.append(_exactly(reader, size))
        _line(reader)  # the CRLF after the chunk


def _response_read(reader) -> Response:
    status, version, headers = _head_read(reader)
    while 100 <= status < 200:  # interim responses (100 Continue, 103 Early Hints) precede the real one
        status, version, headers = _head_read(reader)
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if status in (204, 304):
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = _chunked_read(reader)
    elif "content-length" in headers:
        try:
            size = int(headers["content-length"])
        except ValueError:
            raise ProtocolError(f"a malformed Content-Length: {headers['content-length'][:20]!r}") from None
        if not 0 <= size <= MAX_BODY:
            raise ProtocolError(f"a response body of {size} bytes is refused")
        body = _exactly(reader, size)
    else:  # the body runs until the server closes the connection
        body = reader.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise ProtocolError("the response body is larger than 10 MiB")
        keep_alive = False
    return Response(status, headers, body, keep_alive)
