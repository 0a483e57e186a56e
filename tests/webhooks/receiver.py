"""A real webhook receiver on 127.0.0.1 for the tests: an HTTP server in a thread that verifies every request with
the ``standardwebhooks`` package, exactly as a receiver's own code would, and answers as its ``plan`` says (a status,
after an optional delay: a delay beyond the sender's timeout is a timeout)."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified_with: list[int]  # the indexes of the receiver's secrets that verified it
    error: str = ""

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """``secrets``: what the receiver holds; ``plan(n)`` for the n-th request (from 0): (status, seconds to wait)."""

    secrets: list[str] = field(default_factory=list)
    plan: Callable[[int], tuple[int, float]] = lambda n: (200, 0.0)
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified, error = [], ""
                for index, secret in enumerate(receiver.secrets):
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(index)
                    except WebhookVerificationError as err:
                        error = str(err)
                with receiver._lock:
                    number = len(receiver.requests)
                    receiver.requests.append(Received(headers=headers, body=body, verified_with=verified, error=error))
                status, delay = receiver.plan(number)
                if delay:
                    time.sleep(delay)
                try:
                    answer = json.dumps({"n": number, "status": status}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args):
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/newsletter"
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def succeeded(self) -> list[Received]:
        """The requests it accepted (verified by one of its secrets, and answered 2xx by the plan)."""
        return [r for n, r in enumerate(self.requests) if r.verified_with and 200 <= self.plan(n)[0] < 300]
