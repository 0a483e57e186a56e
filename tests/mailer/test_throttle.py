"""The shared SES rate limiter: several processes, one schedule, within the rate and close to it."""

import itertools
import multiprocessing
import time
import uuid

import pytest
import redis
from django.conf import settings

from mailer.throttle import SendRateLimiter


def _worker(url: str, account: str, rate: float, seconds: float, group: int, queue) -> None:
    limiter = SendRateLimiter(account=account, rate_per_second=rate, client=redis.Redis.from_url(url))
    slots, stamps, end = [], [], time.time() + seconds
    while time.time() < end:
        reservation = limiter.acquire(timeout=5, count=group)
        start = time.monotonic()
        for number in range(reservation.count):
            # Each reserved slot, on Redis's clock; and the moment this process would call SES (as the worker
            # does: the first at once, each later one a whole interval after the one before).
            slots.append(reservation.slot + number * reservation.interval)
            delay = start + number * reservation.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stamps.append(time.time())
    queue.put((slots, stamps))


def _run_fleet(
    *, processes: int, rate: float, seconds: float, group: int = 1
) -> tuple[list[float], list[float], float]:
    """Every slot the fleet reserved and every moment it went ahead, each sorted; and the longest any send went out
    after its slot, beyond its process's usual (the machine's clock and Redis's may differ by a constant)."""
    account = f"test-{uuid.uuid4().hex}"
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_worker, args=(settings.REDIS_URL, account, rate, seconds, group, queue))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + 30) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    behind = [[stamp - slot for slot, stamp in zip(slots, stamps, strict=True)] for slots, stamps in results]
    late = max(max(lags) - min(lags) for lags in behind if lags)
    return sorted(s for slots, _ in results for s in slots), sorted(s for _, stamps in results for s in stamps), late


def _busiest_second(stamps: list[float]) -> int:
    """The most sends in any one-second window (sliding, starting at each send)."""
    busiest, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


# Runs in the full suite on a loaded two-core machine once used 82% of the rate (all four processes were held back at
# once, by another test's workers and browser on the same cores, and their slots went unclaimed), and once sent 54 in
# a second (one process held back, its late sends bunched with the others'). Such a run is made again, up to this
# many runs in all; a shortfall without a stall fails at once.
RUNS_WHEN_STALLED = 3
STALL_INTERVALS = 4  # a gap of this many slots in the schedule is a stall of the whole fleet
LATE_INTERVALS = 2  # a send this many slots after its own has been held back


def _largest_gap(moments: list[float]) -> float:
    return max(later - earlier for earlier, later in itertools.pairwise(moments))


@pytest.mark.parametrize("group", [1, 5], ids=["one slot per call", "five slots per call"])
def test_four_processes_share_one_rate_within_one_send_per_second_and_use_at_least_95_percent_of_it(group):
    rate, seconds = 50, 3.0
    runs = []
    for _ in range(RUNS_WHEN_STALLED):
        slots, stamps, late = _run_fleet(processes=4, rate=rate, seconds=seconds, group=group)

        # The schedule the fleet shares (Redis's clock): never more than rate + 1 in any second, whatever happens.
        assert _busiest_second(slots) <= rate + 1
        # When the processes actually went ahead (each machine's clock): the same, give or take the operating
        # system's scheduling of four processes on two cores; and the use of the rate in the steady state (the
        # first and last half second left out).
        steady = [s for s in slots if slots[0] + 0.5 <= s <= slots[-1] - 0.5]
        use, busiest = len(steady) / (steady[-1] - steady[0]), _busiest_second(stamps)
        runs.append(f"{use:.1f} sends/s of {rate}, at most {busiest} in a second")
        if use >= 0.95 * rate and busiest <= rate + 3:
            return
        # Short of either, after a gap of several slots in the schedule (the machine held all four processes back
        # at once: an unclaimed slot is lost by design, not carried over) or a send that went out well after its
        # slot (a process held back, whose late sends then bunch with the others'). Without either, it is the
        # limiter's fault.
        stalled = _largest_gap(steady) > STALL_INTERVALS / rate or late > LATE_INTERVALS / rate
        assert stalled, f"{runs[-1]}, with no stall of the processes (longest late {late * 1000:.0f} ms)"
    pytest.fail(f"Each run stalled: {'; '.join(runs)}")


def test_a_limiter_reserves_slots_one_interval_apart_and_refuses_far_ahead():
    client = redis.Redis.from_url(settings.REDIS_URL)
    limiter = SendRateLimiter(
        account=f"test-{uuid.uuid4().hex}", rate_per_second=10, client=client, max_wait_seconds=0.25
    )

    waits = [limiter.reserve() for _ in range(5)]

    assert [w.granted for w in waits] == [True, True, True, False, False]
    assert waits[0].wait_seconds < 0.01
    assert waits[1].wait_seconds == pytest.approx(0.1, abs=0.02)
    assert waits[2].wait_seconds == pytest.approx(0.2, abs=0.02)


def test_a_group_reservation_takes_consecutive_slots_all_or_none():
    client = redis.Redis.from_url(settings.REDIS_URL)
    limiter = SendRateLimiter(
        account=f"test-{uuid.uuid4().hex}", rate_per_second=10, client=client, max_wait_seconds=0.25
    )

    group = limiter.reserve(count=3)
    after = limiter.reserve()

    assert (group.granted, group.count, group.interval) == (True, 3, 0.1)
    assert group.offsets() == pytest.approx([0.0, 0.1, 0.2], abs=0.01)
    assert after.wait_seconds == pytest.approx(0.3, abs=0.02) and not after.granted, "0.3 s is past max_wait"
    assert limiter.reserve(count=2).count == 0


def test_losing_the_schedule_in_redis_restarts_it_without_a_stall():
    client = redis.Redis.from_url(settings.REDIS_URL)
    limiter = SendRateLimiter(account=f"test-{uuid.uuid4().hex}", rate_per_second=10, client=client)
    for _ in range(8):
        limiter.reserve()  # the schedule is now 0.8 s ahead

    client.delete(limiter.key)  # as after a Redis restart or flush

    assert limiter.reserve().wait_seconds < 0.01


def test_a_rate_of_zero_is_refused():
    with pytest.raises(ValueError, match="above zero"):
        SendRateLimiter(account="x", rate_per_second=0, client=redis.Redis.from_url(settings.REDIS_URL))
