"""A minimal, fast SES endpoint for benchmarks: it accepts every message and remembers nothing but a count.
moto serves only a few hundred sends a second, which would measure moto rather than us.

It speaks SES v2 ``SendEmail`` (JSON, POST to /v2/email/outbound-emails) and, for clients such as django-ses
that use the v1 Query API (form-encoded POST to /), ``SendRawEmail``, ``SendEmail`` and ``GetSendQuota`` (XML).
Sent messages of either API go into one counter, which a GET returns; ``GET /times`` returns the moment
(``time.time()``, one per line) of every send since the last ``GET /times``, for a benchmark that checks how
evenly a rate limit spreads the sends. ``GetSendQuota`` reports a send rate so
high that no client-side throttle based on it ever waits. Loopback only; run as
``python bench/fast_ses.py PORT [LATENCY_MS]``: with a latency, each send is answered that many milliseconds
late, as a real SES endpoint tens of milliseconds away would be.

Why not ``http.server``: the benchmark's workers, PostgreSQL, Redis and this endpoint share two cores, so every
microsecond the endpoint spends is taken from the system being measured. ``http.server`` (a thread per
connection, headers parsed by the ``email`` package) cost 0.30 to 0.36 ms of CPU per message; this one event
loop with a parser that reads only the request line and Content-Length costs a small fraction of that. It
understands what the HTTP/1.1 clients here send it (Content-Length bodies, keep-alive, one request at a time
on each connection); it is not a general web server.
"""

import asyncio
import re
import sys
import time
import uuid

V1_ACTION = re.compile(rb"(?:^|&)Action=(\w+)")
V1_NAMESPACE = "http://ses.amazonaws.com/doc/2010-12-01/"
V1_QUOTA = "<Max24HourSend>1.0E9</Max24HourSend><MaxSendRate>1.0E6</MaxSendRate><SentLast24Hours>0.0</SentLast24Hours>"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
MAX_HEAD = 64 * 1024


class Counter:
    sent = 0
    times: list[float] = []


def response(status: int, content_type: str, text: str) -> bytes:
    body = text.encode()
    reason = {200: "OK", 400: "Bad Request"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def answer(method: bytes, path: bytes, body: bytes) -> bytes:
    """The whole HTTP response to one request."""
    if method == b"GET" and path == b"/times":
        times, Counter.times = Counter.times, []
        return response(200, "text/plain", "\n".join(f"{t:.6f}" for t in times))
    if method == b"GET":
        return response(200, "text/plain", str(Counter.sent))
    if path != b"/":  # v2: a REST path per operation; v1 (Query) posts every action to /
        Counter.sent += 1
        Counter.times.append(time.time())
        return response(200, "application/json", f'{{"MessageId": "{uuid.uuid4().hex}"}}')
    match = V1_ACTION.search(body)
    action = match.group(1).decode() if match else ""
    metadata = f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
    if action in ("SendRawEmail", "SendEmail"):
        Counter.sent += 1
        Counter.times.append(time.time())
        result = f"<MessageId>{uuid.uuid4().hex}</MessageId>"
    elif action == "GetSendQuota":
        result = V1_QUOTA
    else:
        error = f"<Error><Type>Sender</Type><Code>InvalidAction</Code><Message>{action}</Message></Error>"
        return response(400, "text/xml", f'<ErrorResponse xmlns="{V1_NAMESPACE}">{error}{metadata}</ErrorResponse>')
    wrapped = f"<{action}Result>{result}</{action}Result>{metadata}"
    return response(200, "text/xml", f'<{action}Response xmlns="{V1_NAMESPACE}">{wrapped}</{action}Response>')


class FastHttpProtocol(asyncio.Protocol):
    """One client connection: requests are read from a buffer and each complete one is passed to ``handle``, which
    answers it. HTTP/1.1 with Content-Length bodies, keep-alive or not (also the base of bench/fast_webhooks.py)."""

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head = bytes(self.buffer[:end])
            match = CONTENT_LENGTH.search(head)
            length = int(match.group(1)) if match else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            method, path, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            self.handle(method, path, head, body)

    def handle(self, method: bytes, path: bytes, head: bytes, body: bytes) -> None:
        raise NotImplementedError


class SesProtocol(FastHttpProtocol):
    """The SES endpoint: every request answered as ``answer`` says, POSTs after ``latency`` seconds if set."""

    latency = 0.0

    def handle(self, method: bytes, path: bytes, head: bytes, body: bytes) -> None:
        data = answer(method, path, body)
        if self.latency and method == b"POST":
            asyncio.get_running_loop().call_later(self.latency, self.write_later, data)
        else:
            self.transport.write(data)

    def write_later(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(SesProtocol, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    SesProtocol.latency = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    asyncio.run(serve(int(sys.argv[1])))
