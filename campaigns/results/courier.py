"""Clicks and opens carried to Redis by a thread of each process, so that no request waits for Redis to count one.

A click's redirect (or an open's image) is answered as soon as the click is on this process's queue, about a
microsecond. The courier thread, woken by the first click after a quiet spell, waits ``GATHER_SECONDS`` (10 ms) for
the next ones, takes everything waiting, adds it up, and hands it to ``tally`` to write in one Redis round trip.
Under load one round trip carries many clicks (a link's clicks become one ``HINCRBY``), and request threads neither
wait on the network nor wake a thread for each count. Under gunicorn a click cost 1.46 to 1.61 times a trivial page's
CPU with a round trip of its own, and 1.20 to 1.63 times this way, 1.37 or less in 8 runs of 12 (docs/BENCHMARKS.md,
"Public endpoints under load").

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
    takes is either taken now or wakes the next round. ``wait`` queues a marker of its own behind what is waiting and
    returns when the courier has carried the batch the marker was in: everything queued before the call, however
    many clicks keep arriving after it.
    """

    def __init__(self, carry: Carry, *, maxsize: int = QUEUE_MAX):
        self.carry = carry
        self.maxsize = maxsize
        self.pending: deque = deque()
        self._wake = threading.Event()
        self._carrying = False
        self.thread = threading.Thread(target=self._run, name="tally-courier", daemon=True)

    def start(self) -> "Courier":
        self.thread.start()
        return self

    @property
    def dead(self) -> bool:
        """Started, and no longer running (ended by something worse than an exception of a batch)."""
        return self.thread.ident is not None and not self.thread.is_alive()

    def put(self, entry: tuple) -> None:
        """Queue one entry; when ``maxsize`` are waiting, carry it now, in the caller's thread."""
        if len(self.pending) >= self.maxsize:
            self.carry([entry])
            return
        self.pending.append(entry)
        if not self._wake.is_set():
            self._wake.set()

    def _take(self) -> tuple[list[tuple], list[threading.Event]]:
        entries: list[tuple] = []
        markers: list[threading.Event] = []
        with contextlib.suppress(IndexError):
            while len(entries) < BATCH_MAX:
                item = self.pending.popleft()
                (markers if isinstance(item, threading.Event) else entries).append(item)
        return entries, markers

    def _run(self) -> None:
        while True:
            if not self._wake.is_set():
                # Idle: no database connection is kept. One is opened only when Redis could not be reached, and
                # kept while batches follow each other.
                with contextlib.suppress(Exception):
                    connections.close_all()
            self._wake.wait()
            time.sleep(GATHER_SECONDS)  # the clicks of the next moment travel with this one
            self._carrying = True
            self._wake.clear()  # before taking: an entry added from now on wakes the next round
            entries, markers = self._take()
            try:
                if entries:
                    self.carry(entries)
            except Exception:  # never let one bad batch stop the thread: the next clicks must still be carried
                logger.exception("Could not count %d clicks and opens", len(entries))
            finally:
                self._carrying = False
                for marker in markers:
                    marker.set()
                if self.pending:
                    self._wake.set()

    def wait(self, timeout: float) -> bool:
        """Wait until everything queued before this call has been carried (or failed); False if ``timeout`` passed
        first, or the courier is not running."""
        if not self.pending and not self._carrying:
            return True
        marker = threading.Event()
        self.pending.append(marker)
        self._wake.set()
        return marker.wait(timeout)


_courier: Courier | None = None
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child starts without a courier: the parent's thread is not in it, and the parent carries what the
    copied queue holds. Its lock is new too: a fork while another thread held it would leave the copy locked."""
    global _courier, _lock
    _courier, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def courier_for(carry: Carry) -> Courier:
    """This process's courier, started on first use, and again when its thread has died (the new one takes over
    what was waiting)."""
    global _courier
    courier = _courier
    if courier is not None and not courier.dead:
        return courier
    with _lock:
        if _courier is None or _courier.dead:
            replacement = Courier(carry)
            if _courier is not None:
                replacement.pending = _courier.pending
                logger.error("The courier of clicks and opens had stopped; a new one carries what was waiting")
            _courier = replacement.start()
        return _courier


def courier_wait(timeout: float = EXIT_WAIT_SECONDS) -> bool:
    """Wait until the clicks and opens this process queued before the call are carried to Redis (or the database).
    True at once when nothing is queued or no courier was started here."""
    courier = _courier
    return courier is None or courier.wait(timeout)


@atexit.register
def _carry_before_exit() -> None:
    if not courier_wait():
        logger.warning("Clicks and opens still queued at exit after %d s; they are not counted", EXIT_WAIT_SECONDS)
