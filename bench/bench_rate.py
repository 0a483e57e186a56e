"""Benchmark: how much of a throttled sending rate the send workers use, through real Celery workers.

Run with ``DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/bench_rate.py [--rates 500,2000] [--seconds 60]``.
For each rate it starts the workers as docs/operations.md runs them on one machine (``-Q sends -c 2`` and a worker
for the other queues), with ``SES_MAX_SEND_RATE`` set to that rate, sends a campaign to an audience large enough
to keep them busy for longer than the measured span, and reads back from the fast local SES endpoint the moment
of every call it received. It prints:

- the share of the rate used over ``--seconds`` seconds, starting two seconds after the first message (what the
  limiter gives away while the fleet is busy: the target is at least 98%);
- the most calls in any one-second window, sliding over every call, and in any calendar second (the promise to
  SES: never more than the rate plus one);
- the machine's ceiling first, with ``--ceiling``: the same workers unthrottled, so that a rate above what this
  machine can reach is reported as such rather than as a limiter's loss.

The audience of each size is seeded once and reused (the same seeding as bench_send.py). ``--json`` adds one
JSON line per rate at the end.
"""

import argparse
import bisect
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_send import audience, bench_env, workdir_new  # noqa: E402 - after the path is set

WARMUP_SECONDS = 2.0
# The worker shape of docs/operations.md ("Workers and beat", one machine): two processes on sends, one for the rest
# (the rest of a large audience is written by a task on the default queue while the first rows are sent).
WORKERS = (("sends", "sends", 2), ("other", "transactional,feedback,default", 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="500,2000", help="SES_MAX_SEND_RATE values, separated by commas")
    parser.add_argument("--seconds", type=float, default=60.0, help="the span measured at each rate")
    parser.add_argument("--ceiling", action="store_true", help="first measure the workers unthrottled")
    parser.add_argument("--ses-latency-ms", type=float, default=10.0, help="the endpoint answers each send this late")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--json", action="store_true", help="end with one JSON line per rate")
    args = parser.parse_args()

    workdir = workdir_new("bench-rate-")
    endpoint = f"http://127.0.0.1:{args.port}"
    env = bench_env(workdir=workdir, endpoint=endpoint)
    command = [sys.executable, str(ROOT / "bench" / "fast_ses.py"), str(args.port), str(args.ses_latency_ms)]
    server = subprocess.Popen(command)  # noqa: S603
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    results = []
    try:
        time.sleep(0.5)
        if args.ceiling:
            results.append(run(None, args, env, endpoint, workdir))
        results += [run(float(rate), args, env, endpoint, workdir) for rate in args.rates.split(",")]
    finally:
        server.terminate()
    if args.json:
        for result in results:
            print(json.dumps(result))


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
        return response.read().decode()


def send_times(endpoint: str) -> list[float]:
    """The moments of the calls the endpoint received since it was last asked, in order."""
    return sorted(float(line) for line in _get(f"{endpoint}/times").split())


def busiest_window(times: list[float], seconds: float = 1.0) -> tuple[int, float]:
    """The most calls in any window of ``seconds``, the window sliding from call to call, and where it starts."""
    most, at, first = 0, 0.0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= seconds:
            first += 1
        if last - first + 1 > most:
            most, at = last - first + 1, times[first]
    return most, at


def busiest_calendar_second(times: list[float]) -> int:
    counts: dict[int, int] = {}
    for moment in times:
        counts[int(moment)] = counts.get(int(moment), 0) + 1
    # The first and last seconds of a run are partial; they cannot be the busiest unless all are.
    return max(counts.values(), default=0)


def start_workers(env: dict, workdir: Path, rate: float | None) -> list[tuple[subprocess.Popen, Path]]:
    worker_env = {**env, "SES_MAX_SEND_RATE": str(rate or 1_000_000)}
    workers = []
    for name, queues, processes in WORKERS:
        log = workdir / f"{name}-{int(rate or 0)}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "newsletter", "worker", "-Q", queues, "-c", str(processes),
            "-n", f"{name}@bench", "--loglevel", "INFO", "--logfile", str(log), "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        workers.append((subprocess.Popen(command, cwd=ROOT, env=worker_env, **quiet), log))  # noqa: S603
    deadline = time.monotonic() + 60
    while not all(log.exists() and " ready." in log.read_text() for _, log in workers):
        if time.monotonic() > deadline:
            raise SystemExit(f"Celery workers did not start; see the logs in {workdir}")
        time.sleep(0.2)
    time.sleep(1.0)  # each process warms up (worker_process_init) after the worker reports ready
    return workers


def stop_workers(workers: list[tuple[subprocess.Popen, Path]]) -> None:
    for process, _ in workers:
        process.send_signal(signal.SIGTERM)
    for process, _ in workers:
        process.wait(timeout=60)


def run(rate: float | None, args, env: dict, endpoint: str, workdir: Path) -> dict:
    import redis
    from django.conf import settings

    from campaigns.models import Send, SendState
    from campaigns.sending.services import send_cancel, send_create, send_start

    # Enough recipients for the warm-up and the measured span, with a margin; unthrottled, 2,000 a second at most.
    size = int((rate or 2000) * (args.seconds + WARMUP_SECONDS + 8))
    page = audience(size)
    Send.objects.filter(page=page).delete()
    redis.Redis.from_url(settings.REDIS_URL).delete(f"nl:ses-rate:{settings.SES_REGION}")
    workers = start_workers(env, workdir, rate)
    try:
        send_times(endpoint)  # forget calls before this run
        started = time.time()
        send = send_start(send=send_create(page=page))
        deadline = started + WARMUP_SECONDS + args.seconds + 120
        while time.time() < deadline:
            time.sleep(1.0)
            send.refresh_from_db()
            if send.state != SendState.SENDING or time.time() > started + WARMUP_SECONDS + args.seconds + 5:
                break
        send_cancel(send=send)
    finally:
        stop_workers(workers)
    times = send_times(endpoint)
    if os.environ.get("BENCH_RATE_TIMES"):
        Path(os.environ["BENCH_RATE_TIMES"]).write_text("\n".join(map(str, times)))
    if not times:
        raise SystemExit(f"No message reached the endpoint; see the worker logs in {workdir}")
    begin = times[0] + WARMUP_SECONDS
    end = begin + args.seconds
    if times[-1] < end - 0.5:
        raise SystemExit(f"The send ended {end - times[-1]:.1f} s before the measured span did: raise the audience")
    measured = times[bisect.bisect_left(times, begin) : bisect.bisect_left(times, end)]
    achieved = len(measured) / args.seconds
    result = {
        "rate": rate,
        "seconds": args.seconds,
        "ses_latency_ms": args.ses_latency_ms,
        "send_concurrency": settings.SEND_CONCURRENCY,
        "database": env["DATABASE_URL"].split(":")[0],
        "messages_measured": len(measured),
        "achieved_per_second": round(achieved, 1),
        "used": round(achieved / rate, 4) if rate else None,
        "busiest_sliding_second": busiest_window(times)[0],
        "busiest_sliding_second_at": round(busiest_window(times)[1] - times[0], 2),
        "busiest_calendar_second": busiest_calendar_second(measured),
        "first_message_seconds": round(times[0] - started, 2),
    }
    Send.objects.filter(pk=send.pk).delete()
    label = f"at SES_MAX_SEND_RATE={rate:g}" if rate else "unthrottled (the machine's ceiling)"
    print(f"\nRate benchmark {label}: {args.seconds:g} s measured, endpoint latency {args.ses_latency_ms:g} ms")
    print(f"  achieved:                  {achieved:8.1f} messages/s ({len(measured):,} calls)")
    if rate:
        print(f"  share of the rate used:    {achieved / rate:8.2%}  (target: at least 98%)")
        print(
            f"  busiest 1 s, sliding:      {result['busiest_sliding_second']:8d}  (limit: {int(rate) + 1}; "
            f"{result['busiest_sliding_second_at']:.2f} s after the first message)"
        )
        print(f"  busiest calendar second:   {result['busiest_calendar_second']:8d}")
    print(f"  first message after:       {result['first_message_seconds']:8.2f} s")
    return result


if __name__ == "__main__":
    main()
