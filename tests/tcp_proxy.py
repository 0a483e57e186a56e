"""A TCP proxy on a loopback port that a test can cut: every open connection is dropped and new ones are refused
for a while, as when the server behind it restarts. Used to restart Redis under worker processes without touching
the Redis server the rest of the suite uses.
"""

import contextlib
import socket
import threading
import time


class CuttableProxy:
    """``with CuttableProxy(upstream) as (proxy_host, proxy_port):`` ... ``proxy.cut(seconds)``. ``upstream`` is a
    (host, port) pair or the path of a unix socket."""

    def __init__(self, upstream: tuple[str, int] | str):
        self.upstream = upstream
        self.down_until = 0.0
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.cuts = 0

    def __enter__(self) -> tuple[str, int]:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()
        return self.listener.getsockname()[:2]

    def __exit__(self, *exc) -> None:
        self.running = False
        self.listener.close()
        self._drop_all()

    def cut(self, seconds: float) -> None:
        """Drop every connection now and refuse new ones for ``seconds``."""
        with self.lock:
            self.down_until = time.monotonic() + seconds
            self.cuts += 1
        self._drop_all()

    def _drop_all(self) -> None:
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.down_until:
                client.close()  # the server is "restarting": connection refused, in effect
                continue
            try:
                server = self._connect_upstream()
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.pairs.append((client, server))
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.upstream, str):
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self.upstream)
            return server
        return socket.create_connection(self.upstream, timeout=5)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
