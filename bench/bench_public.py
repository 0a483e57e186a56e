"""Benchmark: the public endpoints under load, beside a trivial view on the same server in the same run.

Starts gunicorn (``--workers``, default 2 per core, of ``--threads`` threads each, default 4, as docs/operations.md
runs the web tier; ``--threads 1`` for sync workers) with the local settings plus one trivial view
(``bench/public_urls.py``: a view that answers "ok" through the whole middleware stack), against DATABASE_URL and
REDIS_URL. Seeds once ``--people`` subscribers on a topic of their own (reused later, as bench_send.py does) and a
sent campaign with its tracked links and a delivery row per person. Then, for ``--seconds`` each, ``--concurrency``
connections from one asyncio client send requests back to back:

1. the trivial view, ``GET /bench/trivial/`` (the yardstick);
2. click redirects, ``GET /c/<token>/?r=<recipient key>``: each request a link of the send and a recipient, so the
   link's counter is incremented and the recipient's delivery marked clicked the first time (302 expected);
3. one-click unsubscribes, ``POST /newsletter/unsubscribe/<token>/`` with ``List-Unsubscribe=One-Click``, each a
   different person's subscription (withdrawn, one consent event; 200 expected);
4. public sign-ups, ``POST /newsletter/subscribe/`` with a CSRF token, a new address each time (302 expected);

with the trivial view again after each of them. For each: requests per second, p50 and p99 latency, and errors (any
other status, or a failed connection); each endpoint's rate as a share of the mean of the trivial view's two phases
around it (the machine's load moves during a run); and the CPU time per request of the gunicorn workers and of the
PostgreSQL backends serving the database (from /proc: less moved by other work on the machine than the rates).
Every request opens its own connection (``Connection: close``), as mailbox providers and browsers following a link
in an email meet the server. No Celery worker runs: sign-ups wait in Redis.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/bench_public.py
"""

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from bench_api import free_port, wait_for  # noqa: E402
from bench_send import cpu_seconds  # noqa: E402


async def _request(port: int, raw: bytes) -> tuple[int, bytes, bytes]:
    """One request on its own connection: (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if length:
            body = await reader.readexactly(int(length[1]))
        elif re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
            body = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await reader.readexactly(size + 2)
                if not size:
                    break
                body += chunk[:-2]
        else:
            body = await reader.read()
        return status, head, body
    finally:
        writer.close()


def _get(path: str, headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode()


def _post(path: str, body: str, headers: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
    ).encode()


async def _phase(port: int, *, concurrency: int, seconds: float, make, expected: int) -> dict:
    """``concurrency`` loops sending ``make(i)`` requests back to back for ``seconds``."""
    latencies: list[float] = []
    errors = [0]
    counter = iter(range(10**9))
    stop = time.perf_counter() + seconds

    async def loop():
        while time.perf_counter() < stop:
            raw = make(next(counter))
            started = time.perf_counter()
            try:
                status, _, _ = await _request(port, raw)
            except OSError:
                status = 0
            latencies.append(time.perf_counter() - started)
            if status != expected:
                errors[0] += 1

    begun = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begun
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "errors": errors[0],
    }


def seed(people: int) -> tuple[list[str], list[str]]:
    """The click paths and one-click unsubscribe paths of a sent campaign to ``people`` people (seeded once)."""
    import django

    django.setup()
    from bench_send import audience
    from django.db import transaction

    from campaigns.authoring.rendering import campaign_render
    from campaigns.models import Delivery, DeliveryState, Send, SendState, TrackedLink
    from campaigns.results.clicks import click_recipient_key, click_token, links_track
    from subscribers.links import unsubscribe_url
    from subscribers.models import Subscription, SubscriptionStatus

    page = audience(people)
    page.refresh_from_db()  # its published revision
    topic = page.topics.get()
    # Unsubscribed by an earlier run: active again, so that every one-click POST withdraws someone.
    Subscription.objects.filter(topic=topic).update(status=SubscriptionStatus.ACTIVE, unsubscribed_at=None)
    send = Send.objects.filter(page=page, state=SendState.SENT).first()
    if send is None:
        with transaction.atomic():
            send = Send.objects.create(page=page, revision_id=page.live_revision_id, state=SendState.SENT)
            links_track(send=send, html=campaign_render(page=page).html_source)
            Delivery.objects.bulk_create(
                (
                    Delivery(send=send, subscriber_id=s.subscriber_id, subscription=s, state=DeliveryState.SENT)
                    for s in Subscription.objects.filter(topic=topic).only("pk", "subscriber_id").iterator()
                ),
                batch_size=5000,
            )
    Delivery.objects.filter(send=send).update(clicked_at=None)
    positions = list(TrackedLink.objects.filter(send=send).values_list("position", flat=True))
    subscriptions = list(Subscription.objects.filter(topic=topic).select_related("subscriber").order_by("pk"))
    clicks = [
        f"/c/{click_token(send_id=send.pk, position=positions[i % len(positions)])}/"
        f"?r={click_recipient_key(subscription=s)}"
        for i, s in enumerate(subscriptions)
    ]
    unsubscribes = [unsubscribe_url(subscription=s).split("://", 1)[1].split("/", 1)[1] for s in subscriptions]
    return clicks, ["/" + path for path in unsubscribes]


async def _csrf(port: int) -> tuple[str, str]:
    _, head, body = await _request(port, _get("/newsletter/subscribe/"))
    cookie = re.search(rb"csrftoken=([^;]+)", head)[1].decode()
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)[1].decode()
    return cookie, token


def server_cpu(master: int, database) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each gunicorn worker (children of ``master``) and of each PostgreSQL backend serving this
    database (persistent connections: mostly the same backends all along), apart from ``database``'s own."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    backends = [pid for (pid,) in database.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'"
    )]
    return {int(pid): ("web", cpu_seconds(int(pid))) for pid in children} | {
        pid: ("db", cpu_seconds(pid)) for pid in backends
    }


def cpu_used(before: dict, after: dict, kind: str) -> float:
    """CPU seconds used between two ``server_cpu`` readings by the processes of ``kind`` present at both (a backend
    closed meanwhile, its connection past its age, is left out rather than counted negative)."""
    return sum(cpu - before[pid][1] for pid, (what, cpu) in after.items() if what == kind and pid in before)


async def measure(port: int, args, clicks: list[str], unsubscribes: list[str], master: int) -> list[tuple[str, dict]]:
    import psycopg
    from django.db import connection

    database = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    run_id = uuid.uuid4().hex[:8]
    cookie, token = await _csrf(port)
    signup_headers = f"Cookie: csrftoken={cookie}\r\nReferer: http://127.0.0.1:{port}/newsletter/subscribe/\r\n"
    if len(unsubscribes) < args.seconds * 2000:
        print(f"note: {len(unsubscribes):,} people; past that many one-click requests, people are unsubscribed again")
    trivial = ("trivial view", lambda i: _get("/bench/trivial/"), 200)
    endpoints = [
        ("click redirect", lambda i: _get(clicks[i % len(clicks)]), 302),
        ("one-click unsubscribe", lambda i: _post(unsubscribes[i % len(unsubscribes)], "List-Unsubscribe=One-Click"),
         200),
        ("public sign-up", lambda i: _post(
            "/newsletter/subscribe/",
            f"csrfmiddlewaretoken={token}&email=pub-{run_id}-{i}%40bench.example&first_name=",
            signup_headers,
        ), 302),
    ]
    # The trivial view before and after each endpoint: each is compared with the mean of its two neighbours, so that
    # load from other work that comes and goes during the run moves the yardstick with it.
    phases = [trivial]
    for endpoint in endpoints:
        phases += [endpoint, trivial]
    results = []
    for label, make, expected in phases:
        await _phase(port, concurrency=args.concurrency, seconds=1, make=make, expected=expected)  # warm-up
        cpu = server_cpu(master, database)
        result = await _phase(port, concurrency=args.concurrency, seconds=args.seconds, make=make, expected=expected)
        cpu_after = server_cpu(master, database)
        result["web_cpu_us"] = cpu_used(cpu, cpu_after, "web") / result["requests"] * 1e6
        result["db_cpu_us"] = cpu_used(cpu, cpu_after, "db") / result["requests"] * 1e6
        results.append((label, result))
    database.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (1: sync workers)")
    parser.add_argument("--people", type=int, default=50_000)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL and REDIS_URL (a PostgreSQL and a Redis of your own).")
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="newsletter.settings.local",
        DEBUG="false",
        SUBSCRIBE_RATE_PER_IP="100000000/h",
        SUBSCRIBE_RATE_PER_ADDRESS="100000000/h",
        LOG_LEVEL="WARNING",
        SITE_URL="https://news.larkspur-lune.example",
    )
    os.environ.update(env)
    subprocess.run([BIN / "python", "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    started = time.perf_counter()
    clicks, unsubscribes = seed(args.people)
    print(f"seeded {len(clicks):,} people with a sent campaign in {time.perf_counter() - started:.1f} s")
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [BIN / "gunicorn", "newsletter.wsgi", "--workers", str(args.workers), "--threads", str(args.threads),
         "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "--pythonpath", str(BENCH)],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "public_settings"},
    )
    try:
        wait_for(port)
        results = asyncio.run(measure(port, args, clicks, unsubscribes, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
    shape = f"{args.workers} workers of {args.threads} threads" if args.threads > 1 else f"{args.workers} sync workers"
    print(f"gunicorn: {shape}; {args.concurrency} connections at once; {args.seconds:.0f} s each; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    for index, (label, r) in enumerate(results):
        line = (f"{label:22} {r['rate']:7.1f}/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
                f"{r['errors']} errors of {r['requests']:,}  CPU a request: web {r['web_cpu_us']:5.0f} µs, "
                f"PostgreSQL {r['db_cpu_us']:4.0f} µs")
        if label != "trivial view":
            before, after = results[index - 1][1], results[index + 1][1]
            rate = (before["rate"] + after["rate"]) / 2
            web_cpu = (before["web_cpu_us"] + after["web_cpu_us"]) / 2
            line += (f"\n{'':22} {100 * r['rate'] / rate:5.1f}% of the trivial view's rate around it ({rate:.0f}/s), "
                     f"web CPU {r['web_cpu_us'] / web_cpu:.2f} times its")
        print(line)

if __name__ == "__main__":
    main()
