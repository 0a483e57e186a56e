"""A minimal, fast webhook receiver for benchmarks: it answers every POST with 204 at once and remembers only what
the benchmark checks afterwards. Loopback only; run as ``python bench/fast_webhooks.py PORT [SAMPLE_EVERY]``.

For each POST it keeps the ``webhook-id`` header (so the benchmark can count repeats and check the order per
subscriber), and every SAMPLE_EVERY-th request whole (headers and body, default every 100th), so the benchmark can
verify their signatures with the ``standardwebhooks`` package after the run: verifying here, on the receiver's one
event loop, would take CPU from the system being measured and throttle the rate it reports.

- ``POST`` (any path): 204, counted;
- ``GET /count``: how many POSTs so far;
- ``GET /ids``: the ``webhook-id`` of every POST, one a line, in the order they arrived;
- ``GET /samples``: the sampled requests as JSON lines (``{"headers": {...}, "body": "<base64>"}``);
- ``GET /reset``: forget everything.

Why not ``http.server``: the workers, PostgreSQL, Redis and this receiver share two cores, so every microsecond the
receiver spends is taken from the system being measured (bench/fast_ses.py says more). One event loop, a parser
that reads the request line, Content-Length and the one header it keeps; HTTP/1.1 with Content-Length bodies,
keep-alive or not; not a general web server.
"""

import asyncio
import base64
import json
import re
import sys

from fast_ses import FastHttpProtocol  # run as a script from bench/: its folder is on the path

WEBHOOK_ID = re.compile(rb"\r\nwebhook-id:[ \t]*([^\r]*)", re.IGNORECASE)
HEADER = re.compile(rb"\r\n([^:\r]+):[ \t]*([^\r]*)")
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


class State:
    sample_every = 100
    count = 0
    ids: list[bytes] = []
    samples: list[dict] = []


def reply(text: str, content_type: str = "text/plain") -> bytes:
    body = text.encode()
    return f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def answer_get(path: bytes) -> bytes:
    if path == b"/ids":
        return reply(b"\n".join(State.ids).decode())
    if path == b"/samples":
        return reply("\n".join(json.dumps(s) for s in State.samples), "application/x-ndjson")
    if path == b"/reset":
        State.count, State.ids, State.samples = 0, [], []
        return reply("0")
    return reply(str(State.count))


class ReceiverProtocol(FastHttpProtocol):
    """Every POST counted and answered 204 at once; GETs answer what was kept."""

    def handle(self, method: bytes, path: bytes, head: bytes, body: bytes) -> None:
        if method != b"POST":
            self.transport.write(answer_get(path))
            return
        State.count += 1
        found = WEBHOOK_ID.search(head)
        State.ids.append(found.group(1) if found else b"")
        if State.count % State.sample_every == 0:
            headers = {k.decode().lower(): v.decode() for k, v in HEADER.findall(head)}
            State.samples.append({"headers": headers, "body": base64.b64encode(body).decode()})
        self.transport.write(NO_CONTENT)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(ReceiverProtocol, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    State.sample_every = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    asyncio.run(serve(int(sys.argv[1])))
