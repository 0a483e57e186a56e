"""Benchmark: webhook deliveries per second to a fast local receiver, by real Celery workers, beside raw HTTP posts.

Run with ``.venv/bin/python bench/bench_webhooks.py [--events N] [--few K] [--workers 1,2] [--json]`` (``make bench``
runs it with the defaults). It uses DATABASE_URL and REDIS_URL when set (PostgreSQL and Redis, as in production) and
otherwise a throwaway SQLite file and the embedded Redis; it empties the ``webhooks`` queue of that Redis before and
after each case, so run it on a Redis database of its own.

It starts a receiver on 127.0.0.1 (bench/fast_webhooks.py: answers 204, counts, keeps each ``webhook-id`` and a
sample of whole requests), adds one endpoint for it through the staff service (``webhook_endpoint_create``, by a
superuser), subscribed to ``subscription.confirmed`` and ``subscription.withdrawn``, and for each case and each
worker size:

- publishes N events through the real path (``subscribers.outbound.outbound_event_publish`` inside a transaction per
  event, as the subscription services do; the webhooks app's publisher writes the event and its delivery and queues a
  wake-up after commit), with no worker running, and times it;
- runs ``ANALYZE`` on the delivery table, as autovacuum does within a minute of such a burst (``--no-analyze``
  leaves the statistics of the table before the burst: see docs/BENCHMARKS.md for what that costs);
- starts ``celery -A newsletter worker -Q webhooks -c W`` (the shape docs/operations.md gives) and measures, from the
  moment it is ready with the N deliveries waiting: the sustained rate (10% to 90% of the deliveries received), the
  end-to-end time until the receiver has them all and until the ledger has recorded them all, attempts per
  delivery, and the CPU per delivery of the worker processes, of PostgreSQL's backends for this database, of Redis
  and of the receiver (PostgreSQL and Redis are measured only when they run on this machine);
- checks what arrived: no delivery missing or repeated, every subscriber's events in order, and a sample of the
  signatures (every 100th request; ``--sample-every``) verified with the ``standardwebhooks`` package in this
  process while they arrive (not on the receiver's loop, so the rate does not pay for it; its cost is printed apart).

The cases: ``distinct``, one ``subscription.confirmed`` for each of N subscribers (nothing holds deliveries back),
and ``few``, N events alternating confirmed and withdrawn for only K subscribers (``--few``, default 10): the
ordering rule lets at most one delivery per subscriber be in flight, so parallelism is limited to K.

Beside them, the yardstick: raw POSTs per second from this one Python process to the same receiver with
``http.client``, the same body and headers, over one keep-alive connection and with a new connection per POST (as
the delivery code connects). Subscribers ``hook<n>@mail.example`` are seeded once and reused; the events, deliveries
and the endpoint are deleted after each run. ``--json`` ends with one JSON line per case and worker size.
"""

import argparse
import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_send import cpu_seconds, workdir_new  # noqa: E402 - after the path is set

ENDPOINT_NAME = "Benchmark receiver"
EVENTS = ["subscription.confirmed", "subscription.withdrawn"]
STAFF = "bench-webhooks@larkspur-lune.example"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000, help="events published (and delivered) per case")
    parser.add_argument("--few", type=int, default=10, help="subscribers in the 'few' case")
    parser.add_argument("--workers", default="1,2", help="worker processes (-c), or several separated by commas")
    parser.add_argument("--cases", default="distinct,few", help="distinct, few, or both")
    parser.add_argument("--raw-posts", type=int, default=5000, help="POSTs of the raw yardstick, each way")
    parser.add_argument("--sample-every", type=int, default=100, help="the receiver keeps every n-th request whole")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--json", action="store_true", help="end with one JSON line per case and worker size")
    parser.add_argument(
        "--no-analyze", dest="analyze", action="store_false", help="leave the planner's statistics as they were"
    )
    args = parser.parse_args()

    workdir = workdir_new("bench-webhooks-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsletter.settings.local",
        "MEDIA_ROOT": str(workdir / "media"),
        "SITE_URL": "https://news.larkspur-lune.example",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "WEBHOOKS_ALLOW_PRIVATE_URLS": "true",  # the receiver is on 127.0.0.1 (production refuses that)
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench-webhooks.sqlite3'}")
    os.environ.update(env)
    receiver_script = str(ROOT / "bench" / "fast_webhooks.py")
    receiver = subprocess.Popen([sys.executable, receiver_script, str(args.port), str(args.sample_every)])  # noqa: S603
    try:
        time.sleep(0.5)
        results = run(args, env, workdir, receiver.pid)
    finally:
        receiver.terminate()
    if args.json:
        for result in results:
            print(json.dumps(result))


# --- the receiver and /proc ---------------------------------------------------------------------------------------


def receiver_get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return response.read().decode()



def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def database_pids() -> list[int]:
    """PostgreSQL's backends serving this database (empty on SQLite or when the server is elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql" or connection.settings_dict["HOST"] not in ("127.0.0.1", "localhost", ""):
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]


def backends_seen(seen: dict[int, float]) -> dict[int, float]:
    """Update ``seen`` with the CPU seconds of each backend serving this database now, and return it."""
    for pid in database_pids():
        seen[pid] = max(seen.get(pid, 0.0), cpu_seconds(pid))
    return seen


def redis_pid() -> int | None:
    """The Redis server's process id, when it runs on this machine."""
    import redis
    from django.conf import settings

    info = redis.Redis.from_url(settings.REDIS_URL).info("server")
    pid = int(info.get("process_id", 0))
    return pid if Path(f"/proc/{pid}").exists() else None


def ledger_analyze() -> None:
    """Fresh planner statistics for the delivery table, as autovacuum takes them within a minute of a burst this size
    (PostgreSQL only). Without them the claim query's plan is chosen for the table before the burst."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE webhooks_webhookdelivery")


def queue_clear() -> None:
    """Delete the ``webhooks`` queue's messages and those taken but not acknowledged (see tests/celery_workers.py)."""
    import redis
    from django.conf import settings
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    keys = ["unacked", "unacked_index", "unacked_mutex"]
    keys += ["webhooks" if step == 0 else f"webhooks{Channel.sep}{step}" for step in PRIORITY_STEPS]
    redis.Redis.from_url(settings.REDIS_URL).delete(*keys)


def queue_length() -> int:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL).llen("webhooks")


# --- the worker -----------------------------------------------------------------------------------------------------


class Worker:
    """``celery -A newsletter worker -Q webhooks -c W``, as docs/operations.md runs it, its log in a file."""

    def __init__(self, *, concurrency: int, env: dict, log_path: Path):
        self.log_path = log_path
        command = [
            sys.executable, "-m", "celery", "-A", "newsletter", "worker", "-Q", "webhooks", "-c", str(concurrency),
            "-n", "bench-webhooks@%h", "--loglevel", "INFO",
        ]  # fmt: skip
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"The worker exited with {self.process.returncode}:\n{self.log_path.read_text()}")
        return any(line.rstrip().endswith(" ready.") for line in self.log_path.read_text(errors="replace").splitlines())

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid) + sum(cpu_seconds(p) for p in children(self.process.pid))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


# --- seeding, publishing, the yardstick -----------------------------------------------------------------------------


def subscriptions(count: int):
    """``count`` subscribers, each with an active subscription to the benchmark topic, created once and reused."""
    from subscribers.addresses import address_hmac
    from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Topic

    topic, _ = Topic.objects.get_or_create(slug="bench-webhooks", defaults={"name": "Benchmark webhooks"})
    have = Subscriber.objects.filter(email__startswith="hook", email__endswith="@mail.example").count()
    for start in range(have, count, 10_000):
        emails = [f"hook{n}@mail.example" for n in range(start, min(start + 10_000, count))]
        Subscriber.objects.bulk_create(
            Subscriber(email=e, address_hmac=address_hmac(e), first_name="Reader") for e in emails
        )
    people = Subscriber.objects.filter(email__startswith="hook", email__endswith="@mail.example").order_by("pk")
    people = list(people[:count])
    subscribed = set(Subscription.objects.filter(topic=topic).values_list("subscriber_id", flat=True))
    missing = [p for p in people if p.pk not in subscribed]
    Subscription.objects.bulk_create(
        Subscription(subscriber=p, topic=topic, status=SubscriptionStatus.ACTIVE) for p in missing
    )
    by_person = {s.subscriber_id: s for s in Subscription.objects.filter(topic=topic).select_related("topic")}
    return [(p, by_person[p.pk]) for p in people]


def publish(*, people: list, events: int) -> float:
    """Publish ``events`` events, cycling through ``people`` (confirmed, then withdrawn, ...), one transaction each,
    through the outbound registry as the services do. Returns the seconds it took."""
    from django.db import transaction

    from subscribers.outbound import outbound_event_publish

    started = time.perf_counter()
    for n in range(events):
        subscriber, subscription = people[n % len(people)]
        kind = EVENTS[(n // len(people)) % 2]
        with transaction.atomic():
            outbound_event_publish(
                type=kind,
                subscriber=subscriber,
                data={"subscription": str(subscription.public_id), "topic": subscription.topic.slug},
            )
    return time.perf_counter() - started


def sample_request(*, people: list, secret: str) -> tuple[bytes, dict[str, str]]:
    """A body and headers like a delivery's (the same size, signed the same way)."""
    from django.utils import timezone

    from webhooks.models import message_id_new
    from webhooks.signing import webhook_body, webhook_headers

    subscriber, subscription = people[0]
    now = timezone.now()
    data = {"subscriber": str(subscriber.public_id), "subscription": str(subscription.public_id), "topic": "general"}
    body = webhook_body(type="subscription.confirmed", occurred_at=now, data=data)
    headers = webhook_headers(message_id=message_id_new(), timestamp=now, body=body, secrets=[secret])
    return body, {"Content-Type": "application/json", "User-Agent": "newsletter-webhooks/1", **headers}


def raw_posts(*, port: int, body: bytes, headers: dict, count: int, keep_alive: bool) -> float:
    """POSTs per second from this process to the receiver, on one kept-alive connection or a new one each time."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.perf_counter()
    for _ in range(count):
        if not keep_alive:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/hooks", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 204
        if not keep_alive:
            connection.close()
    rate = count / (time.perf_counter() - started)
    connection.close()
    return rate


class Signatures:
    """Verifies the receiver's sampled requests with the ``standardwebhooks`` package, as a receiver would, in this
    process and about once a second while the deliveries arrive: the library refuses a timestamp more than five
    minutes old, so a long run cannot wait until its end, and the receiver's loop must not pay for it."""

    def __init__(self, secret: str):
        from standardwebhooks.webhooks import Webhook

        self.webhook = Webhook(secret)
        self.done = self.verified = self.refused = 0
        self.seconds = 0.0
        self.errors: list[str] = []

    def check(self, port: int) -> None:
        from standardwebhooks.webhooks import WebhookVerificationError

        lines = [line for line in receiver_get(port, "/samples").splitlines() if line][self.done :]
        started = time.perf_counter()
        for line in lines:
            sample = json.loads(line)
            try:
                self.webhook.verify(base64.b64decode(sample["body"]), sample["headers"])
                self.verified += 1
            except WebhookVerificationError as err:
                self.refused += 1
                self.errors.append(str(err))
        self.done += len(lines)
        self.seconds += time.perf_counter() - started


# --- one case -------------------------------------------------------------------------------------------------------


def deliver(*, case: str, people: list, workers: int, args, env: dict, workdir: Path, receiver_pid: int, endpoint,
            secret: str) -> dict:  # fmt: skip
    from webhooks.models import DeliveryState, WebhookDelivery, WebhookEvent

    n = args.events
    signatures = Signatures(secret)
    queue_clear()
    receiver_get(args.port, "/reset")
    first_event = (WebhookEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    publish_seconds = publish(people=people, events=n)
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint, event_id__gte=first_event)
    assert deliveries.filter(state=DeliveryState.PENDING).count() == n, "not every event made a pending delivery"
    wakes = queue_length()
    if args.analyze:
        ledger_analyze()

    worker = Worker(concurrency=workers, env=env, log_path=workdir / f"worker-{case}-{workers}.log")
    try:
        deadline = time.monotonic() + 60
        while not worker.ready() and receiver_get(args.port, "/count") == "0":
            assert time.monotonic() < deadline, "the worker was not ready within 60 s"
            time.sleep(0.01)
        started = time.perf_counter()
        redis = redis_pid()
        cpu_before = {
            "worker": worker.cpu(),
            "database": backends_seen({}),
            "redis": cpu_seconds(redis) if redis else 0.0,
            "receiver": cpu_seconds(receiver_pid),
        }
        samples, looked, db_seen = [], time.monotonic(), dict(cpu_before["database"])
        deadline = time.monotonic() + max(120, n / 20)
        while True:
            count = int(receiver_get(args.port, "/count"))
            samples.append((time.perf_counter() - started, count))
            if count >= n:
                break
            assert time.monotonic() < deadline, f"only {count} of {n} deliveries arrived"
            # The backends' CPU as last seen: a worker's connection may close at the end of a task (0.2 s apart).
            if time.monotonic() - looked > 0.2:
                looked = time.monotonic()
                backends_seen(db_seen)
                signatures.check(args.port)
            time.sleep(0.05)
        received_seconds = time.perf_counter() - started
        backends_seen(db_seen)
        signatures.check(args.port)
        cpu_after = {
            "worker": worker.cpu(),
            "database": db_seen,
            "redis": cpu_seconds(redis) if redis else 0.0,
            "receiver": cpu_seconds(receiver_pid),
        }
        while deliveries.filter(state=DeliveryState.PENDING).exists():
            assert time.monotonic() < deadline, "deliveries were received but not recorded"
            time.sleep(0.02)
        recorded_seconds = time.perf_counter() - started
        wakes_left = queue_length()
        # The wake-ups left find nothing to do; how fast the worker gets through them, over a few seconds.
        time.sleep(5)
        wakes_drain_rate = (wakes_left - queue_length()) / (time.perf_counter() - started - recorded_seconds)
    finally:
        worker.stop()
        queue_clear()

    # What arrived: each delivery once, and in event order for each subscriber.
    ids = receiver_get(args.port, "/ids").split("\n")
    events = dict(
        WebhookEvent.objects.filter(pk__gte=first_event).values_list("message_id", "pk")
    )
    keys = dict(WebhookEvent.objects.filter(pk__gte=first_event).values_list("pk", "ordering_key"))
    repeats = len(ids) - len(set(ids))
    unknown = len(set(ids) - set(events))
    last_by_key, out_of_order = {}, 0
    for message_id in ids:
        pk = events.get(message_id)
        if pk is None:
            continue
        key = keys[pk]
        if pk < last_by_key.get(key, 0):
            out_of_order += 1
        last_by_key[key] = max(pk, last_by_key.get(key, 0))
    states = {state: deliveries.filter(state=state).count() for state in DeliveryState.values}
    attempts = sum(deliveries.values_list("attempts", flat=True))

    verified, refused, sampled = signatures.verified, signatures.refused, signatures.done
    verify_ms = 1000 * signatures.seconds / max(1, sampled)

    def at(fraction: float) -> tuple[float, int]:
        return next((t, c) for t, c in samples if c >= fraction * n)

    (t10, c10), (t90, c90) = at(0.1), at(0.9)
    end_to_end = n / received_seconds
    sustained = (c90 - c10) / (t90 - t10) if t90 > t10 and c90 > c10 else end_to_end

    def per_delivery(part: str) -> float:
        if part == "database":
            spent = sum(cpu_after["database"][p] - cpu_before["database"].get(p, 0.0) for p in cpu_after["database"])
        else:
            spent = cpu_after[part] - cpu_before[part]
        return round(1000 * spent / n, 3)

    result = {
        "case": case,
        "subscribers": len(people),
        "events": n,
        "workers": workers,
        "database": env["DATABASE_URL"].split(":")[0],
        "publish_seconds": round(publish_seconds, 2),
        "publish_rate": round(n / publish_seconds),
        "analyzed": args.analyze,
        "wakeups_queued": wakes,
        "sustained_rate": round(sustained),
        "end_to_end_rate": round(end_to_end),
        "received_seconds": round(received_seconds, 2),
        "recorded_seconds": round(recorded_seconds, 2),
        "wakeups_left": wakes_left,
        "wakeups_drained_per_second": round(wakes_drain_rate),
        "attempts_per_delivery": round(attempts / n, 3),
        "states": {k: v for k, v in states.items() if v},
        "repeats": repeats,
        "unknown": unknown,
        "out_of_order": out_of_order,
        "signatures_verified": verified,
        "signatures_refused": refused,
        "verify_ms_each": round(verify_ms, 3),
        "cpu_ms_per_delivery": {
            "workers": per_delivery("worker"),
            "postgresql": per_delivery("database") if cpu_after["database"] else None,
            "redis": per_delivery("redis") if redis else None,
            "receiver": per_delivery("receiver"),
        },
    }
    cpu = result["cpu_ms_per_delivery"]
    print(
        f"\nWebhooks, {case}: {n:,} events for {len(people):,} subscribers, a worker of {workers} process"
        f"{'es' if workers > 1 else ''}, database {result['database']}"
    )
    print(f"  publishing (a transaction each):  {result['publish_rate']:8,} events/s  ({publish_seconds:.1f} s)")
    print(f"  deliveries, sustained (10%-90%):  {sustained:8,.0f} /s")
    print(f"  deliveries, end to end:           {end_to_end:8,.0f} /s  (all received {received_seconds:.1f} s after "
          f"the worker was ready, all recorded {recorded_seconds:.1f} s)")  # fmt: skip
    print(f"  attempts per delivery:            {result['attempts_per_delivery']:8.3f}   states {result['states']}")
    print(f"  repeats / unknown / out of order: {repeats} / {unknown} / {out_of_order}")
    print(f"  signatures verified (sample):     {verified} of {sampled} ({verify_ms:.3f} ms each, apart from the rate)")
    print(
        "  CPU per delivery:                 "
        + ", ".join(f"{k} {v:.3f} ms" for k, v in cpu.items() if v is not None)
    )
    print(f"  wake-up messages:                 {wakes:,} queued by publishing, {wakes_left:,} left when all were "
          f"recorded, then {wakes_drain_rate:,.0f} drained a second")  # fmt: skip
    assert states.get(DeliveryState.SUCCEEDED) == n and not repeats and not unknown and not out_of_order
    assert sampled and not refused, f"a sampled signature did not verify: {signatures.errors[:3]}"
    return result


def run(args, env: dict, workdir: Path, receiver_pid: int) -> list[dict]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from webhooks.models import WebhookEndpoint, WebhookEvent
    from webhooks.services import webhook_endpoint_create, webhook_endpoint_delete

    call_command("migrate", verbosity=0)
    staff, _ = get_user_model().objects.get_or_create(
        email=STAFF, defaults={"is_superuser": True, "is_staff": True}
    )
    for old in WebhookEndpoint.objects.filter(name=ENDPOINT_NAME):
        webhook_endpoint_delete(user=staff, endpoint=old)
    others = WebhookEndpoint.objects.filter(enabled=True).exclude(name=ENDPOINT_NAME).count()
    assert not others, f"{others} other enabled endpoints would receive the events too; use a database of its own"

    seeding = time.perf_counter()
    people = subscriptions(max(args.events, args.few))
    seeding = time.perf_counter() - seeding
    endpoint, secret = webhook_endpoint_create(
        user=staff, name=ENDPOINT_NAME, url=f"http://127.0.0.1:{args.port}/hooks/newsletter", events=EVENTS
    )
    body, headers = sample_request(people=people, secret=secret)
    receiver_get(args.port, "/reset")
    raw_keep_alive = raw_posts(port=args.port, body=body, headers=headers, count=args.raw_posts, keep_alive=True)
    raw_new = raw_posts(port=args.port, body=body, headers=headers, count=args.raw_posts, keep_alive=False)
    print(f"\nWebhooks benchmark: seeding {seeding:.1f} s; request body {len(body)} bytes")
    print(f"  raw http.client POSTs, one process, keep-alive:       {raw_keep_alive:8,.0f} /s")
    print(f"  raw http.client POSTs, one process, a new connection: {raw_new:8,.0f} /s")

    results = []
    try:
        for case in args.cases.split(","):
            audience = people[: args.events] if case == "distinct" else people[: args.few]
            for workers in (int(w) for w in args.workers.split(",")):
                first = (WebhookEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
                result = deliver(
                    case=case, people=audience, workers=workers, args=args, env=env, workdir=workdir,
                    receiver_pid=receiver_pid, endpoint=endpoint, secret=secret,
                )  # fmt: skip
                result.update(raw_keep_alive=round(raw_keep_alive), raw_new_connection=round(raw_new),
                              body_bytes=len(body))  # fmt: skip
                results.append(result)
                WebhookEvent.objects.filter(pk__gte=first).delete()  # with their deliveries and attempts
    finally:
        webhook_endpoint_delete(user=staff, endpoint=endpoint)
    return results


if __name__ == "__main__":
    main()
