"""Benchmark: whole sends, end to end, against a fast local SES endpoint, beside raw boto3 calls.

Run with ``.venv/bin/python bench/bench_send.py [--recipients N[,N...]] [--workers W]`` (``make bench`` runs it
with the defaults). It uses DATABASE_URL and REDIS_URL when set (PostgreSQL and Redis, as in production) and
otherwise a throwaway SQLite file and the embedded Redis. For each audience size it prints:

- raw boto3: SendEmail calls per second against the same endpoint with a prebuilt message, from one process
  and from W processes at once (the ceiling this machine allows boto3 alone);
- the pipeline: W worker processes, started and warm before the send (as Celery workers are), each claiming,
  re-checking, personalising, building, rate-limiting, calling SES and recording every row. Sustained rate
  (from 10% to 90% of the messages), end-to-end rate (from starting the send until every row is final), and
  its ratio to raw boto3;
- time to the first message, the time ``send_start`` took (audience snapshot with INSERT ... SELECT, render,
  checks), the peak resident memory of each worker, and CPU milliseconds per message of workers and endpoint.

The audience is seeded once and reused on later runs (a topic per size; subscribers ``bench<n>@mail.example``),
so sizes up to a million can be measured repeatedly. ``--json`` adds one JSON line per size at the end.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A worker process: set up, open its connections, then wait for a send id on stdin (as a Celery worker waits
# for a task), work on the send, and report what it used.
WORKER = """
import json, resource, sys, time, django
django.setup()
from django.db import connection
from campaigns.sending.worker import send_work, worker_warm
connection.ensure_connection(); worker_warm()  # as each Celery worker process does when it starts
print("ready", flush=True)
send_id = int(sys.stdin.readline())
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
accepted = send_work(send_id=send_id)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"accepted": accepted, "rss_before_kb": rss_before, "rss_peak_kb": usage.ru_maxrss,
                  "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)
"""

# The task that writes the rest of a large audience while the workers send (a Celery task in production).
AUDIENCE = """
import json, sys, time, django
django.setup()
from campaigns.sending.services import send_audience_continue
print("ready", flush=True)
send_id = int(sys.stdin.readline())
started = time.perf_counter()
rows = send_audience_continue(send_id=send_id)
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started}), flush=True)
"""

# Raw boto3: SendEmail through the boto3 client alone, with a prebuilt message, as fast as one process can.
RAW = """
import json, sys, time, django
django.setup()
from django.conf import settings
from subscribers.mail import message_build
from mailer.ses import ses_client
raw = message_build(to="bench0@mail.example", subject="Hello", text="t" * 2000, html="<p>h</p>" * 500)
params = {"FromEmailAddress": settings.DEFAULT_FROM_EMAIL, "Destination": {"ToAddresses": ["bench0@mail.example"]},
          "Content": {"Raw": {"Data": raw}},
          "EmailTags": [{"Name": "send", "Value": "1"}, {"Name": "delivery", "Value": "1"}]}
if settings.SES_CONFIGURATION_SET:
    params["ConfigurationSetName"] = settings.SES_CONFIGURATION_SET
client = ses_client()
for _ in range(100):
    client.send_email(**params)
print("ready", flush=True); sys.stdin.readline()
started = time.time()
for _ in range(int(sys.argv[1])):
    client.send_email(**params)
print(json.dumps({"started": started, "ended": time.time()}), flush=True)
"""


def bench_env(*, workdir: Path, endpoint: str, **extra: str) -> dict:
    """The environment of a sending benchmark and of the workers it starts: local settings against the fast local
    SES endpoint, a media folder of its own, DATABASE_URL as given (else a SQLite file under var/). Also made this
    process's own environment, before Django is set up."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsletter.settings.local",
        "SES_ENDPOINT_URL": endpoint,
        "MEDIA_ROOT": str(workdir / "media"),
        "SITE_URL": "https://news.larkspur-lune.example",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench-send.sqlite3'}")
    os.environ.update(env)
    return env


def workdir_new(prefix: str) -> Path:
    """A new folder for one run's logs and media under the project's ``var/`` (made if this clone has none yet)."""
    (ROOT / "var").mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=ROOT / "var"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", default="20000", help="audience size, or several separated by commas")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--raw-calls", type=int, default=3000, help="SendEmail calls per raw boto3 process")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--json", action="store_true", help="end with one JSON line per audience size")
    parser.add_argument("--cancel-after", type=float, default=0, help="cancel the send this long after it starts")
    parser.add_argument("--ses-latency-ms", type=float, default=0, help="the endpoint answers each send this late")
    args = parser.parse_args()
    sizes = [int(n) for n in args.recipients.split(",")]

    workdir = workdir_new("bench-send-")
    endpoint = f"http://127.0.0.1:{args.port}"
    # The rate limiter still runs, with slots too close to hold anyone back.
    env = bench_env(workdir=workdir, endpoint=endpoint, SES_MAX_SEND_RATE="1000000")
    endpoint_command = [sys.executable, str(ROOT / "bench" / "fast_ses.py"), str(args.port), str(args.ses_latency_ms)]
    server = subprocess.Popen(endpoint_command)  # noqa: S603
    try:
        time.sleep(0.5)
        results = [run(size, args, env, endpoint, server.pid) for size in sizes]
    finally:
        server.terminate()
    if args.json:
        for result in results:
            print(json.dumps(result))


def sent_count(endpoint: str) -> int:
    with urllib.request.urlopen(endpoint, timeout=5) as response:  # noqa: S310 - loopback
        return int(response.read())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spawn(code: str, env: dict, *args: str) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "ready", "a benchmark process failed to start"
    return process


def _go(processes: list[subprocess.Popen], line: str) -> None:
    for process in processes:
        process.stdin.write(line + "\n")
        process.stdin.flush()


def raw_boto3_rate(env: dict, processes: int, calls: int) -> float:
    """SendEmail calls per second from ``processes`` processes at once."""
    fleet = [_spawn(RAW, env, str(calls)) for _ in range(processes)]
    _go(fleet, "go")
    spans = [json.loads(p.stdout.readline()) for p in fleet]
    for process in fleet:
        process.wait()
    return calls * processes / (max(s["ended"] for s in spans) - min(s["started"] for s in spans))


def audience(size: int):
    """The campaign page and a topic of ``size`` active subscribers, created once and reused."""
    from campaigns.authoring.demo_content import demo_campaign
    from subscribers.addresses import address_hmac
    from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Topic

    topic, _ = Topic.objects.get_or_create(slug=f"bench-{size}", defaults={"name": f"Benchmark {size}"})
    have = Subscription.objects.filter(topic=topic).count()
    if have != size:
        Subscription.objects.filter(topic=topic).delete()
        existing = Subscriber.objects.filter(email__startswith="bench").count()
        for start in range(existing, size, 10_000):
            emails = [f"bench{n}@mail.example" for n in range(start, min(start + 10_000, size))]
            Subscriber.objects.bulk_create(
                Subscriber(email=e, address_hmac=address_hmac(e), first_name="Reader") for e in emails
            )
        people = Subscriber.objects.filter(email__startswith="bench").order_by("pk").values_list("pk", flat=True)
        batch = []
        for person in people[:size].iterator(chunk_size=10_000):
            batch.append(Subscription(subscriber_id=person, topic=topic, status=SubscriptionStatus.ACTIVE))
            if len(batch) == 10_000:
                Subscription.objects.bulk_create(batch)
                batch = []
        Subscription.objects.bulk_create(batch)
    page = demo_campaign()
    page.topics.set([topic])
    page.save_revision().publish()
    return page


def run(size: int, args, env: dict, endpoint: str, server_pid: int) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from campaigns.models import Send, SendState
    from campaigns.sending.services import send_cancel, send_create, send_finish_if_done, send_start

    call_command("migrate", verbosity=0)
    seeding = time.perf_counter()
    page = audience(size)
    seeding = time.perf_counter() - seeding
    Send.objects.filter(page=page).delete()

    raw_one = raw_boto3_rate(env, 1, args.raw_calls)
    raw_fleet = raw_boto3_rate(env, args.workers, args.raw_calls)

    workers = [_spawn(WORKER, env) for _ in range(args.workers)]
    audience_writer = _spawn(AUDIENCE, env)
    before, server_cpu = sent_count(endpoint), cpu_seconds(server_pid)
    started = time.perf_counter()
    send = send_start(send=send_create(page=page))
    start_seconds = time.perf_counter() - started
    _go([*workers, audience_writer], str(send.pk))
    samples, first_message, cancelled = [], None, False
    while any(w.poll() is None for w in workers) or not samples:
        count = sent_count(endpoint) - before
        now = time.perf_counter() - started
        if count and first_message is None:
            first_message = now
        if args.cancel_after and now > args.cancel_after and not cancelled:
            send_cancel(send=send)
            cancelled = True
        samples.append((now, count))
        time.sleep(0.002 if first_message is None else 0.1)
    elapsed = time.perf_counter() - started
    reports = [json.loads(w.stdout.readline()) for w in workers]
    rest = json.loads(audience_writer.stdout.readline())
    delivered = sent_count(endpoint) - before
    samples.append((elapsed, delivered))
    send_finish_if_done(send_id=send.pk)
    send.refresh_from_db()

    def at(fraction: float) -> tuple[float, int]:
        return next((t, c) for t, c in samples if c >= fraction * delivered)

    (t10, c10), (t90, c90) = at(0.1), at(0.9)
    end_to_end = delivered / elapsed
    # Too small an audience finishes between two samples: its sustained rate is its end-to-end rate.
    sustained = (c90 - c10) / (t90 - t10) if t90 > t10 and c90 > c10 else end_to_end
    result = {
        "recipients": size,
        "workers": args.workers,
        "ses_latency_ms": args.ses_latency_ms,
        "concurrency": int(os.environ.get("SEND_CONCURRENCY") or settings.SEND_CONCURRENCY),
        "database": env["DATABASE_URL"].split(":")[0],
        "raw_boto3_one_process": round(raw_one),
        "raw_boto3_fleet": round(raw_fleet),
        "pipeline_rate": round(sustained),
        "pipeline_end_to_end_rate": round(end_to_end),
        "send_start_seconds": round(start_seconds, 2),
        "audience_rest_seconds": round(rest["seconds"], 2),
        "cancelled_after_seconds": args.cancel_after if cancelled else None,
        "first_message_seconds": round(first_message or float("nan"), 2),
        "worker_rss_before_mb": [round(r["rss_before_kb"] / 1024) for r in reports],
        "worker_rss_peak_mb": [round(r["rss_peak_kb"] / 1024) for r in reports],
        "worker_cpu_ms_per_message": round(1000 * sum(r["cpu_s"] for r in reports) / delivered, 3),
        "endpoint_cpu_ms_per_message": round(1000 * (cpu_seconds(server_pid) - server_cpu) / delivered, 3),
        "seeding_seconds": round(seeding, 1),
    }
    print(
        f"\nSend benchmark: {size:,} recipients, {args.workers} worker processes of {result['concurrency']} SES calls "
        f"each, database {result['database']}, endpoint latency {args.ses_latency_ms:g} ms"
    )
    print(f"  raw boto3, one process:         {raw_one:8.0f} calls/s")
    print(f"  raw boto3, {args.workers} processes at once:  {raw_fleet:8.0f} calls/s")
    print(f"  pipeline, sustained (10%-90%):  {sustained:8.0f} messages/s")
    print(f"  pipeline, end to end:           {end_to_end:8.0f} messages/s  ({delivered:,} in {elapsed:.1f} s)")
    print(f"  pipeline / raw boto3, one proc: {sustained / raw_one:8.0%}")
    print(f"  pipeline / raw boto3, {args.workers} procs:  {sustained / raw_fleet:8.0%}")
    print(f"  send_start (render, 1st chunk): {start_seconds:8.2f} s")
    print(f"  rest of the audience, written:  {rest['seconds']:8.2f} s  (while sending; {rest['rows']:,} rows)")
    print(f"  time to first message:         {first_message or float('nan'):8.2f} s")
    print(
        f"  worker peak RSS:                {', '.join(f'{m} MB' for m in result['worker_rss_peak_mb'])}"
        f"  (before the send: {', '.join(f'{m} MB' for m in result['worker_rss_before_mb'])})"
    )
    print(
        f"  CPU per message:                workers {result['worker_cpu_ms_per_message']:.3f} ms, "
        f"endpoint {result['endpoint_cpu_ms_per_message']:.3f} ms"
    )
    print(f"  final state: {send.state}; rows: {send.total:,}; accepted: {sum(r['accepted'] for r in reports):,}")
    if cancelled:
        print(f"  cancelled {args.cancel_after:g} s after the start, as asked: {delivered:,} of {send.total:,} sent")
    else:
        assert send.state == SendState.SENT and delivered == send.total == size, "the benchmark send did not complete"
    Send.objects.filter(pk=send.pk).delete()
    return result


if __name__ == "__main__":
    main()
