"""Stopping a send worker gracefully: on a warm shutdown (SIGTERM, a deploy) a send loop finishes the SES calls it
has open, records them, gives back the rows it has not attempted and returns within seconds, instead of working
until the whole send is done.

Celery's warm shutdown runs in the worker's main process and then waits for running tasks; with the prefork pool
those tasks run in child processes that Celery does not tell. So:

- in the main process, on ``worker_shutting_down`` (a warm shutdown), the stop is requested here (the solo and
  threads pools run tasks in this process) and ``SIGUSR2`` is sent to each pool child;
- in each pool child, ``SIGUSR2`` requests the stop; so does ``SIGTERM`` while a send is running (a supervisor
  that signals the whole process group, as systemd does by default). An idle child keeps Celery's default for
  ``SIGTERM``: it exits at once, as Celery's cold shutdown expects, and a second ``SIGTERM`` to a sending child
  does too.

The send loop asks ``stop_requested()`` before each window of calls.
"""

import contextlib
import logging
import os
import signal
import threading

logger = logging.getLogger(__name__)

_stop = threading.Event()
_sending = threading.Event()  # a send loop is running in this process


def stop_requested() -> bool:
    return _stop.is_set()


def stop_request() -> None:
    if not _stop.is_set():
        logger.info("Stop requested: the send loop finishes its open SES calls and returns.")
    _stop.set()


def stop_wait(seconds: float) -> bool:
    """Sleep up to ``seconds``, waking early when a stop is requested; True if it was."""
    return _stop.wait(max(seconds, 0))


@contextlib.contextmanager
def sending():
    """Marks the code inside as a running send loop, for the SIGTERM handler of a pool child."""
    _sending.set()
    try:
        yield
    finally:
        _sending.clear()


def _on_sigterm(signum, frame) -> None:
    if _sending.is_set() and not _stop.is_set():
        stop_request()
        return
    # Idle, or asked twice: Celery's default, exit now.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def child_handlers_install() -> None:
    """In a pool child process, once forked: the signals that ask a running send to stop."""
    signal.signal(signal.SIGUSR2, lambda signum, frame: stop_request())
    signal.signal(signal.SIGTERM, _on_sigterm)


def children_stop() -> int:
    """In the worker's main process, at a warm shutdown: request the stop here and in every pool child."""
    from billiard.process import active_children

    stop_request()
    told = 0
    for child in active_children():
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(child.pid, signal.SIGUSR2)
            told += 1
    return told
