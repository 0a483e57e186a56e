"""Where a send worker's next claim begins.

The claim takes the first queued rows of a send in id order. Each row it takes changes state, and until PostgreSQL's
housekeeping (autovacuum) reaches the table, the row's old entry stays in the (send, state, id) index, dead. A claim
that searched from the front of the queue would read past every one of them: a million by the end of a
million-recipient send, and more at every claim. A worker therefore goes on from the last row it claimed, which
reads past only the rows the other workers claimed since.

Rows can also come back behind that position: a retry after its backoff, rows another worker gave back, rows the
sweeper took back from a lost worker. A search from the front finds them; the worker makes one when going on
finds nothing, and at least every ``RESCAN_SECONDS``, so such a row waits no longer than that beyond its backoff.
"""

import time
from collections.abc import Callable

RESCAN_SECONDS = 10.0


class ClaimPosition:
    """One worker's position in one send's queue (in-process only: a new worker starts from the front)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.after_id = 0  # the highest row this worker has claimed
        self.rescan_at = 0.0  # when the next search from the front is due; the first claim is one

    def claim(self, claim_after: Callable[[int], list[int]]) -> list[int]:
        """Claim with ``claim_after(after_id)``, which returns the ids claimed in ascending order."""
        now = self.clock()
        if now < self.rescan_at:
            ids = claim_after(self.after_id)
            if ids:
                self.after_id = max(self.after_id, ids[-1])
                return ids
        self.rescan_at = now + RESCAN_SECONDS
        ids = claim_after(0)
        if ids:
            # A search from the front that found rows put back keeps the position ahead of them.
            self.after_id = max(self.after_id, ids[-1])
        return ids
