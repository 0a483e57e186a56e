"""A small in-memory stand-in for the SES v2 account-level suppression list API, for tests (moto has none).

It answers ListSuppressedDestinations (GET /v2/email/suppression/addresses, two per page, so the client
must follow NextToken) and PutSuppressedDestination (PUT, same path), in the REST-JSON shapes of the SES v2
API reference: https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_ListSuppressedDestinations.html
Loopback only.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATH = "/v2/email/suppression/addresses"
PAGE_SIZE = 2


class SuppressionListEndpoint:
    """``with SuppressionListEndpoint({"a@x.example": "BOUNCE"}) as (url, listed):`` ``listed`` is live."""

    def __init__(self, listed: dict[str, str] | None = None):
        self.listed = dict(listed or {})

    def __enter__(self):
        listed = self.listed

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path != PATH:
                    return self._reply(404, {"message": "Not found"})
                start = int(parse_qs(url.query).get("NextToken", ["0"])[0])
                items = sorted(listed.items())[start : start + PAGE_SIZE]
                page = {
                    "SuppressedDestinationSummaries": [
                        {"EmailAddress": email, "Reason": reason, "LastUpdateTime": time.time()}
                        for email, reason in items
                    ]
                }
                if start + PAGE_SIZE < len(listed):
                    page["NextToken"] = str(start + PAGE_SIZE)
                return self._reply(200, page)

            def do_PUT(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if urlsplit(self.path).path != PATH or body.get("Reason") not in ("BOUNCE", "COMPLAINT"):
                    return self._reply(400, {"message": "Bad request"})
                listed[body["EmailAddress"]] = body["Reason"]
                return self._reply(200, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}", listed

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
