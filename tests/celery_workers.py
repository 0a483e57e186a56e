"""Real Celery worker processes for end-to-end tests: ``celery -A newsletter worker`` on the test database, the test
Redis and the suite's SES endpoint, started and stopped as an operator would.

A test that uses them is marked ``pytest.mark.django_db(transaction=True, serialized_rollback=True)`` (the workers
are other processes: they see only what the test has committed) and takes the ``worker_processes`` fixture, which
brings ``broker_tasks``: ``.delay()`` in the test process then goes to Redis instead of running inline, on queues
emptied before and after the test. For example::

    def test_...(worker_processes):
        sends = worker_processes.start(name="sends", queues=("sends",))
        other = worker_processes.start(name="other", queues=("transactional", "feedback", "default"))
        worker_processes.wait_ready()

tests/conftest.py loads this module as a plugin, so its fixtures are there for every test.
Each worker writes its log to a file; the logs are printed when the test ends, which pytest shows only when the
test failed.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from kombu.transport.redis import PRIORITY_STEPS, Channel

from newsletter import celery_app

ROOT = Path(__file__).resolve().parent.parent
# The cache prefix of the worker processes' settings (newsletter.settings.base; the test settings use "nl-test").
WORKER_CACHE_PREFIX = "nl"
# Where kombu's Redis transport keeps messages a worker has taken but not acknowledged (tasks running, and
# countdown tasks waiting for their time); a stopped worker puts them back on their queue.
UNACKED_KEYS = ("unacked", "unacked_index", "unacked_mutex")


def database_url() -> str:
    """The URL of the database this test runs on (the test database pytest-django created), for another process."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What a worker process needs to share this test's world: its database, Redis, SES endpoint and site URL.

    The local settings, not the test settings: those run every task inline.
    """
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsletter.settings.local",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SES_ENDPOINT_URL": settings.SES_ENDPOINT_URL,
        "SITE_URL": settings.SITE_URL,
        "LOG_LEVEL": "INFO",
        **(extra or {}),
    }


class WorkerProcess:
    """One ``celery worker`` process (and its pool processes, which share its process group)."""

    def __init__(self, *, name: str, queues: tuple[str, ...], concurrency: int, env: dict[str, str], log_path: Path):
        self.name = name
        self.queues = queues
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "newsletter",
            "worker",
            "--queues",
            ",".join(queues),
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
            "--prefetch-multiplier",
            "1",
            "--loglevel",
            "INFO",
            # No waiting for other workers' replies at start-up: a test's workers have nothing to learn from them.
            "--without-mingle",
            "--without-gossip",
        ]
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the worker consumes its queues (Celery logs "<name>@<host> ready.")."""
        deadline = time.monotonic() + timeout
        while f"{self.name}@" not in self._ready_line():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Worker {self.name} exited with {self.process.returncode} before it was ready:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"Worker {self.name} was not ready within {timeout:.0f}s:\n{self.log()}")
            time.sleep(0.1)

    def _ready_line(self) -> str:
        return next((line for line in self.log().splitlines() if line.rstrip().endswith(" ready.")), "")

    def pool_pids(self) -> list[int]:
        """The pool processes that run the tasks (Linux: the main process's children, read from /proc)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def send_signal(self, sig: int) -> None:
        """A signal to the main worker process only (SIGTERM: warm shutdown; SIGQUIT: cold)."""
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL to the worker and its pool processes at once, as when the machine dies."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 30) -> int | None:
        """Warm shutdown (SIGTERM), as a deploy does; SIGKILL if it takes longer than ``timeout``. Returns the exit
        code of the main process (negative: the signal that ended it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                print(f"Worker {self.name} did not stop within {timeout:.0f}s of SIGTERM; killed.")
        # Pool processes left behind by a main process that was killed, or that did not stop in time.
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        return self.process.returncode


class WorkerProcesses:
    """The ``worker_processes`` fixture: starts workers for one test and stops them all when it ends."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[WorkerProcess] = []

    def start(
        self, *, name: str, queues: tuple[str, ...], concurrency: int = 1, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        """Start a worker consuming ``queues`` (without waiting for it: see ``wait_ready``)."""
        unknown = set(queues) - set(settings.TASK_QUEUE_NAMES)
        assert not unknown, f"No such queue: {sorted(unknown)}; the queues are {settings.TASK_QUEUE_NAMES}."
        worker = WorkerProcess(
            name=name,
            queues=queues,
            concurrency=concurrency,
            env=worker_environment(env),
            log_path=self.log_dir / f"worker-{name}.log",
        )
        self.started.append(worker)
        return worker

    def wait_ready(self, timeout: float = 60) -> None:
        for worker in self.started:
            worker.wait_ready(timeout=timeout)

    def stop_all(self, timeout: float = 10) -> None:
        """Warm shutdown of every worker at once, then wait for each, at most ``timeout`` seconds in all before the
        rest are killed (a test that measures the warm shutdown stops its workers itself)."""
        for worker in self.started:
            if worker.process.poll() is None:
                worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for worker in self.started:
            worker.stop(timeout=max(0.1, deadline - time.monotonic()))


def queues_clear() -> None:
    """Delete the messages of every queue (and those taken but not acknowledged) from the test Redis, and the
    worker processes' cache keys, so that nothing of one test wakes a worker of the next. Never FLUSHDB: the
    database may hold what other processes of this run keep there."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [*UNACKED_KEYS]
    for queue in settings.TASK_QUEUE_NAMES:
        # kombu keeps a queue's messages of each priority step in a list of its own; step 0 is the queue's name.
        keys += [queue if step == 0 else f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS]
    client.delete(*keys)
    worker_cache = list(client.scan_iter(f"{WORKER_CACHE_PREFIX}:*", count=1000))
    if worker_cache:
        client.delete(*worker_cache)


def queued_tasks(queue: str) -> list[dict]:
    """The messages waiting on one queue of the test Redis, oldest first: each one's headers (task name, eta...)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    return [json.loads(raw)["headers"] for raw in reversed(client.lrange(queue, 0, -1))]


@contextmanager
def tasks_through_the_broker() -> Iterator[None]:
    """``.delay()`` in this process sends to Redis instead of running inline, for as long as the block lasts."""
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    queues_clear()
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = was_eager
        queues_clear()


@pytest.fixture
def broker_tasks() -> Iterator[None]:
    """Tasks queued by the test go to Redis (for worker processes to run), on queues emptied before and after."""
    with tasks_through_the_broker():
        yield


@pytest.fixture
def worker_processes(broker_tasks, tmp_path) -> Iterator[WorkerProcesses]:
    """Start real worker processes with ``.start(...)``; they are stopped, and their logs printed (pytest shows
    them when the test failed), when the test ends, before its database is emptied."""
    workers = WorkerProcesses(log_dir=tmp_path)
    try:
        yield workers
    finally:
        workers.stop_all()
        for worker in workers.started:
            print(f"----- log of worker {worker.name} (pid {worker.pid}) -----\n{worker.log()[-20000:]}")
