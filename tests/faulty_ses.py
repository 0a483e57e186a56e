"""A small HTTP endpoint that stands in front of moto's SES server and injects faults on a fixed schedule.

Each SendEmail call is numbered. By its number it is: answered 429 TooManyRequestsException (throttling),
answered 500, delayed, or forwarded and then left without an answer (SES accepted it, the client never
hears so). Everything else is forwarded untouched. Loopback only.
"""

import http.client
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SEND_PATH = "/v2/email/outbound-emails"


@dataclass
class FaultPlan:
    """Which calls meet which fault; an ``_every`` of 0 turns that fault off."""

    throttle_every: int = 10  # 10% throttled
    error_every: int = 20  # 5% answered 500
    slow_every: int = 7
    slow_seconds: float = 0.3
    drop_calls: set[int] = field(default_factory=lambda: {13})  # accepted by SES, answer lost
    throttle_calls: set[int] = field(default_factory=set)  # throttled whatever throttle_every says
    # With a seed, each call is throttled with chance 1 / throttle_every (the same calls on every run) instead of every
    # throttle_every-th: rows sent again in the same order every round cannot meet the throttle every time.
    throttle_seed: int | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"calls": 0, "throttled": 0, "errors": 0, "dropped": 0, "open": 0, "most_open": 0}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self._random = random.Random(self.throttle_seed)

    def _throttled(self, number: int) -> bool:
        if number in self.throttle_calls:
            return True
        if not self.throttle_every:
            return False
        if self.throttle_seed is not None:
            with self.lock:
                return self._random.random() < 1 / self.throttle_every
        return number % self.throttle_every == 0

    def fault_for(self) -> str | None:
        with self.lock:
            self.counts["calls"] += 1
            number = self.counts["calls"]
        if number in self.drop_calls:
            return "drop"
        if self._throttled(number):
            return "throttle"
        if self.error_every and number % self.error_every == 3:
            return "error"
        if self.slow_every and number % self.slow_every == 0:
            return "slow"
        return None


class FaultySes:
    """``with FaultySes(upstream, plan) as url:`` point SES_ENDPOINT_URL at ``url``."""

    def __init__(self, upstream: str, plan: FaultPlan):
        self.upstream = urlsplit(upstream)
        self.plan = plan

    def __enter__(self) -> str:
        upstream, plan = self.upstream, self.plan

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                connection.close()
                return response.status, response.getheaders(), data

            def _answer(self, status: int, headers, data: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.path.startswith(SEND_PATH):
                    return self._send(body, None)
                with plan.lock:  # SendEmail calls open at this moment, and the most ever open at once
                    plan.counts["open"] += 1
                    plan.counts["most_open"] = max(plan.counts["most_open"], plan.counts["open"])
                try:
                    return self._send(body, plan.fault_for())
                finally:
                    with plan.lock:
                        plan.counts["open"] -= 1

            def _send(self, body: bytes, fault: str | None):
                if fault == "throttle":
                    plan.counts["throttled"] += 1
                    error = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "TooManyRequestsException")]
                    return self._answer(429, error, b'{"message": "Maximum sending rate exceeded."}')
                if fault == "error":
                    plan.counts["errors"] += 1
                    error = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "InternalFailure")]
                    return self._answer(500, error, b'{"message": "Internal failure."}')
                if fault == "slow":
                    time.sleep(plan.slow_seconds)
                status, headers, data = self._forward(body)
                if fault == "drop":
                    plan.counts["dropped"] += 1
                    self.close_connection = True  # accepted upstream; the client never gets an answer
                    return None
                return self._answer(status, headers, data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
