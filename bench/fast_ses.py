"""A minimal, fast SES endpoint for benchmarks: it accepts every message and remembers nothing but a count.
moto serves only a few hundred sends a second, which would measure moto rather than us.

It speaks SES v2 ``SendEmail`` (JSON, POST to /v2/email/outbound-emails) and, for clients such as django-ses
that use the v1 Query API (form-encoded POST to /), ``SendRawEmail``, ``SendEmail`` and ``GetSendQuota`` (XML).
Sent messages of either API go into one counter, which a GET returns. ``GetSendQuota`` reports a send rate so
high that no client-side throttle based on it ever waits. Loopback only; run as
``python bench/fast_ses.py PORT [LATENCY_MS]``: with a latency, each send is answered that many milliseconds
late (each connection has its own thread), as a real SES endpoint tens of milliseconds away would be.
"""

import re
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

V1_ACTION = re.compile(rb"(?:^|&)Action=(\w+)")
V1_NAMESPACE = "http://ses.amazonaws.com/doc/2010-12-01/"
V1_QUOTA = "<Max24HourSend>1.0E9</Max24HourSend><MaxSendRate>1.0E6</MaxSendRate><SentLast24Hours>0.0</SentLast24Hours>"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0
    latency = 0.0
    lock = threading.Lock()

    @classmethod
    def counted(cls) -> None:
        with cls.lock:
            cls.count += 1

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and delayed ACKs add 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        request = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if Handler.latency:
            time.sleep(Handler.latency)
        if self.path != "/":  # v2: a REST path per operation; v1 (Query) posts every action to /
            Handler.counted()
            self.reply(200, "application/json", f'{{"MessageId": "{uuid.uuid4().hex}"}}')
            return
        match = V1_ACTION.search(request)
        action = match.group(1).decode() if match else ""
        metadata = f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        if action in ("SendRawEmail", "SendEmail"):
            Handler.counted()
            result = f"<MessageId>{uuid.uuid4().hex}</MessageId>"
        elif action == "GetSendQuota":
            result = V1_QUOTA
        else:
            error = f"<Error><Type>Sender</Type><Code>InvalidAction</Code><Message>{action}</Message></Error>"
            self.reply(400, "text/xml", f'<ErrorResponse xmlns="{V1_NAMESPACE}">{error}{metadata}</ErrorResponse>')
            return
        wrapped = f"<{action}Result>{result}</{action}Result>{metadata}"
        self.reply(200, "text/xml", f'<{action}Response xmlns="{V1_NAMESPACE}">{wrapped}</{action}Response>')

    def reply(self, status: int, content_type: str, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        body = str(Handler.count).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    Handler.latency = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
