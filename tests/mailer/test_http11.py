"""The HTTP/1.1 exchange under SendEmail: every response framing, interim responses, limits and failures."""

import socket
import threading

import pytest

from mailer.http11 import Connection, ReadFailed, WriteFailed

REQUEST = b"POST /v2/email/outbound-emails HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n"


class Scripted:
    """A loopback server that reads one request per scripted answer and writes that answer's bytes as they are
    (``None``: close the connection without answering). It closes the connection after the last answer."""

    def __init__(self, *answers: bytes | None):
        self.answers = list(answers)
        self.received: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.listener.accept()
        with conn:
            for answer in self.answers:
                data = b""
                while not data.endswith(b"\r\n\r\n{}"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.received.append(data)
                if answer is None:
                    return
                conn.sendall(answer)

    def connect(self, read_timeout: float = 2) -> Connection:
        return Connection("127.0.0.1", self.port, tls=None, connect_timeout=2, read_timeout=read_timeout)


def test_content_length_keep_alive_and_headers_in_lower_case():
    answer = b'HTTP/1.1 200 OK\r\nX-Amzn-RequestId: r1\r\nContent-Length: 17\r\n\r\n{"MessageId":"a"}'
    server = Scripted(answer, answer)
    connection = server.connect()

    first = connection.exchange(REQUEST, b"{}")
    second = connection.exchange(REQUEST, b"{}")

    assert (first.status, first.body, first.keep_alive) == (200, b'{"MessageId":"a"}', True)
    assert first.headers["x-amzn-requestid"] == "r1"
    assert second.body == first.body
    assert server.received == [REQUEST + b"{}"] * 2


def test_chunked_body_with_extensions_and_trailers():
    server = Scripted(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"Mes\r\n'
        b'C\r\nsageId":"b"}\r\n'
        b"0\r\nX-Trailer: t\r\n\r\n"
    )

    response = server.connect().exchange(REQUEST, b"{}")

    assert response.body == b'{"MessageId":"b"}'
    assert response.keep_alive


def test_interim_responses_are_skipped_and_connection_close_is_honoured():
    server = Scripted(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )

    response = server.connect().exchange(REQUEST, b"{}")

    assert (response.status, response.keep_alive) == (429, False)


def test_a_body_without_length_runs_to_the_end_of_the_connection():
    server = Scripted(b'HTTP/1.0 200 OK\r\n\r\n{"MessageId":"c"}')

    response = server.connect().exchange(REQUEST, b"{}")

    assert (response.body, response.keep_alive) == (b'{"MessageId":"c"}', False)


@pytest.mark.parametrize(
    "answer, message",
    [
        (None, "closed before the response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}", "in the middle of the response body"),
        (b"SMTP ready\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed response header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", "is refused"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"x" * 70000 + b"\r\n\r\n", "longer than 64 KiB"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", "more than 100"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
    ],
)
def test_a_broken_response_is_read_failed_naming_the_problem(answer, message):
    server = Scripted(answer)

    with pytest.raises(ReadFailed, match=message):
        server.connect().exchange(REQUEST, b"{}")


def test_silence_is_read_failed_after_the_read_timeout():
    listener = socket.create_server(("127.0.0.1", 0))
    connection = Connection("127.0.0.1", listener.getsockname()[1], tls=None, connect_timeout=2, read_timeout=0.2)

    with pytest.raises(ReadFailed, match="timed out"):
        connection.exchange(REQUEST, b"{}")
    listener.close()


def test_writing_to_a_closed_connection_is_write_failed():
    server = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    connection = server.connect()
    connection.exchange(REQUEST, b"{}")
    connection.sock.shutdown(socket.SHUT_WR)

    with pytest.raises(WriteFailed):
        connection.exchange(REQUEST, b"{}")


def test_an_idle_connection_closed_by_the_server_is_seen_as_dropped():
    listener = socket.create_server(("127.0.0.1", 0))
    close_now = threading.Event()

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            close_now.wait(5)

    threading.Thread(target=serve, daemon=True).start()
    connection = Connection("127.0.0.1", listener.getsockname()[1], tls=None, connect_timeout=2, read_timeout=2)
    connection.exchange(REQUEST, b"{}")
    assert not connection.is_dropped()

    close_now.set()
    for _ in range(100):
        if connection.is_dropped():
            break
        threading.Event().wait(0.02)
    assert connection.is_dropped()


def test_a_proxy_tunnel_is_opened_with_connect():
    proxy = socket.create_server(("127.0.0.1", 0))
    seen = []

    def serve():
        conn, _ = proxy.accept()
        with conn:
            seen.append(conn.recv(65536))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            data = b""
            while not data.endswith(b"{}"):
                data += conn.recv(65536)
            seen.append(data)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    threading.Thread(target=serve, daemon=True).start()
    connection = Connection(
        "email.eu-west-2.amazonaws.com",
        443,
        tls=None,
        connect_timeout=2,
        read_timeout=2,
        proxy=("127.0.0.1", proxy.getsockname()[1]),
    )

    assert connection.exchange(REQUEST, b"{}").status == 200
    assert seen[0].startswith(b"CONNECT email.eu-west-2.amazonaws.com:443 HTTP/1.1\r\n")
    assert seen[1] == REQUEST + b"{}"


def test_a_proxy_that_refuses_the_tunnel_is_an_error_naming_it():
    proxy = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = proxy.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    with pytest.raises(ConnectionError, match=r"refused a tunnel .* 403"):
        Connection(
            "h.example", 443, tls=None, connect_timeout=2, read_timeout=2, proxy=("127.0.0.1", proxy.getsockname()[1])
        )
