"""Clicks and opens carried to Redis by a thread of each process, so that no request waits for Redis to count one.

A click's redirect (or an open's image) is answered as soon as the click is on this process's queue, about a
microsecond. The courier thread, woken by the first click after a quiet spell, waits ``GATHER_SECONDS`` (10 ms) for
the next ones, takes everything waiting, adds it up, and hands it to ``tally`` to write in one Redis round trip.
Under load one round trip carries many clicks (a link's clicks become one ``HINCRBY``), and request threads neither
wait on the network nor wake a thread for each count: both cost a click under gunicorn about as much CPU as the rest
of its request (docs/BENCHMARKS.md, "Public endpoints under load").

What this can cost: the clicks and opens still queued in a process killed without warning (SIGKILL, a power cut):
those of its last 10 ms or so. A process that ends normally (gunicorn's graceful restart or shutdown, SIGTERM,
``max_requests``) carries what is queued first (``atexit``). If Redis cannot be reached, ``tally`` writes the batch
to the database, as a request did before; if ``QUEUE_MAX`` entries are waiting (Redis very slow), a request carries
its own count, as before. Either way a count is an aggregate (a link's clicks, a send's opens, a first-click time),
never who is mailed.

A process made by ``fork`` after its parent started a courier gets its own: threads do not survive a fork.
"""

import atexit
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable

from django.db import connections

logger = logging.getLogger(__name__)

QUEUE_MAX = 100_000  # entries waiting; past this a request carries its own count
BATCH_MAX = 5_000  # entries carried in one round trip
GATHER_SECONDS = 0.01  # how long the courier, woken by a click, waits for the next ones before it carries
EXIT_WAIT_SECONDS = 10  # how long a process ending normally waits for its queue to be carried

Carry = Callable[[list[tuple]], None]


class Courier:
    """A list of entries and the daemon thread that empties it through ``carry`` (called with a list of entries).

    Made for many request threads and one courier: a request appends (no lock: a deque's append is atomic) and
    wakes the courier only when it sleeps; the courier clears its wake-up before it takes, so an entry added while it
    takes is either taken now or wakes the next round.
    """

    def __init__(self, carry: Carry, *, maxsize: int = QUEUE_MAX):
        self.carry = carry
        self.maxsize = maxsize
        self.pending: deque = deque()
        self.pid = os.getpid()
        self._wake = threading.Event()
        self._carrying = False
        self._carried = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="tally-courier", daemon=True)

    def start(self) -> "Courier":
        self.thread.start()
        return self

    def put(self, entry: tuple) -> None:
        """Queue one entry; when ``maxsize`` are waiting, carry it now, in the caller's thread."""
        if len(self.pending) >= self.maxsize:
            self.carry([entry])
            return
        self.pending.append(entry)
        if not self._wake.is_set():
            self._wake.set()

    def _take(self) -> list[tuple]:
        entries = []
        with contextlib.suppress(IndexError):
            while len(entries) < BATCH_MAX:
                entries.append(self.pending.popleft())
        return entries

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(GATHER_SECONDS)  # the clicks of the next moment travel with this one
            self._carrying = True
            self._wake.clear()  # before taking: an entry added from now on wakes the next round
            entries = self._take()
            try:
                if entries:
                    self.carry(entries)
            except Exception:  # never let one bad batch stop the thread: the next clicks must still be carried
                logger.exception("Could not count %d clicks and opens", len(entries))
            finally:
                # ``carry`` may have written to the database (Redis unreachable): this thread's connection is
                # closed, not kept open for the process's life.
                connections.close_all()
                if self.pending:
                    self._wake.set()
                with self._carried:
                    self._carrying = False
                    self._carried.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait until everything queued so far has been carried (or failed); False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._carried:
            while self.pending or self._carrying:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._carried.wait(min(remaining, GATHER_SECONDS))
        return True


_courier: Courier | None = None
_lock = threading.Lock()


def courier_for(carry: Carry) -> Courier:
    """This process's courier, started on first use (and again in a forked child, whose parent's thread is gone)."""
    global _courier
    courier = _courier
    if courier is not None and courier.pid == os.getpid():
        return courier
    with _lock:
        if _courier is None or _courier.pid != os.getpid():
            _courier = Courier(carry).start()
        return _courier


def courier_wait(timeout: float = EXIT_WAIT_SECONDS) -> bool:
    """Wait until this process's queued clicks and opens are carried to Redis (or the database). True at once when
    nothing is queued or no courier runs here."""
    courier = _courier
    if courier is None or courier.pid != os.getpid() or not courier.thread.is_alive():
        return True
    return courier.wait(timeout)


@atexit.register
def _carry_before_exit() -> None:
    if not courier_wait():
        logger.warning("Clicks and opens still queued at exit after %d s; they are not counted", EXIT_WAIT_SECONDS)
