"""One sending-rate limiter per SES account, in Redis, shared by every worker process on every machine.

It is a generic cell rate algorithm (GCRA) run as one Lua script, so each decision is atomic in Redis and
uses Redis's own clock: workers on machines whose clocks disagree still share one schedule. Each call
reserves the next free slot (one slot every 1/rate seconds) and tells the caller how long to wait for it,
so workers sleep exactly as long as needed instead of polling. A reservation further ahead than
``max_wait`` is refused, so a crowd of workers cannot queue far into the future. A worker may reserve several
consecutive slots in one call (one Redis round trip for a window of messages) and then sends each at its own
slot, so the schedule is the same as with one call per message.

Slots are strictly spaced (no burst allowance): any one-second window then holds at most ``rate + 1``
sends, which keeps the fleet inside SES's MaxSendRate.

If Redis loses the key (restart, flush) the schedule simply starts again from now: at worst one extra
send in that instant, never a stall.
"""

import time
from dataclasses import dataclass

import redis
from django.conf import settings

# KEYS[1]: the account's key. ARGV: interval and max wait, in microseconds, and how many slots.
# Returns [granted, wait_us, slot_us]: the first slot reserved, as a moment on Redis's clock.
_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > max_wait then
  return {0, wait, 0}
end
redis.call('SET', KEYS[1], tat + interval * count, 'PX', math.floor(interval * count / 1000) + 60000)
return {1, wait, tat}
"""


@dataclass(frozen=True)
class Reservation:
    granted: bool
    wait_seconds: float  # until the first slot
    slot: float = 0.0  # the first reserved moment, in seconds on Redis's clock
    count: int = 1
    interval: float = 0.0  # seconds between consecutive slots

    def offsets(self) -> list[float]:
        """Seconds from the reservation until each reserved slot."""
        return [self.wait_seconds + n * self.interval for n in range(self.count)]


class SendRateLimiter:
    """``reserve()`` a slot, sleep ``wait_seconds``, then send. ``acquire()`` does both."""

    def __init__(
        self, *, account: str, rate_per_second: float, client: redis.Redis | None = None, max_wait_seconds: float = 1.0
    ):
        if rate_per_second <= 0:
            raise ValueError("The sending rate must be above zero.")
        self.key = f"nl:ses-rate:{account}"
        self.interval_us = int(1_000_000 / rate_per_second)
        self.max_wait_us = int(max_wait_seconds * 1_000_000)
        self.client = client or redis.Redis.from_url(settings.REDIS_URL)
        self._script = self.client.register_script(_RESERVE)

    @property
    def rate_per_second(self) -> float:
        return 1_000_000 / self.interval_us

    def reserve(self, count: int = 1) -> Reservation:
        """Reserve ``count`` consecutive slots (all or none)."""
        granted, wait_us, slot_us = self._script(keys=[self.key], args=[self.interval_us, self.max_wait_us, count])
        return Reservation(
            granted=bool(granted),
            wait_seconds=int(wait_us) / 1_000_000,
            slot=int(slot_us) / 1e6,
            count=count if granted else 0,
            interval=self.interval_us / 1_000_000,
        )

    def acquire(self, *, timeout: float = 30.0, count: int = 1, sleep: bool = True) -> Reservation:
        """Block until ``count`` slots are reserved and (unless ``sleep`` is false) this process may send the first
        message.

        Returns the reservation: the caller waits out ``offsets()`` for the later messages (all of them, when it
        did not sleep). Raises TimeoutError.
        """
        deadline = time.monotonic() + timeout
        while True:
            reservation = self.reserve(count)
            if reservation.granted:
                if reservation.wait_seconds and sleep:
                    time.sleep(reservation.wait_seconds)
                return reservation
            if time.monotonic() + reservation.wait_seconds > deadline:
                raise TimeoutError("No sending slot within the time allowed.")
            # Refused because the schedule is full that far ahead: wait until it is not.
            time.sleep(reservation.wait_seconds - self.max_wait_us / 1_000_000)
