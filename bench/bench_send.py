"""Benchmark: a whole send, end to end, against a fast local SES endpoint, beside raw boto3 calls.

Run with ``.venv/bin/python bench/bench_send.py [--recipients N] [--workers W]`` (``make bench`` runs it with
the defaults). It uses DATABASE_URL and REDIS_URL when set (PostgreSQL and Redis, as in production) and
otherwise a throwaway SQLite file and the embedded Redis. It prints:

- raw boto3: SendEmail calls per second from one process to the same endpoint, with a prebuilt message;
- the pipeline: messages per second from snapshot to the last row final, with W worker processes, each
  claiming, re-checking, personalising, building, rate-limiting, calling SES and recording every row;
- the ratio of the two, the time to the first message and the time the audience snapshot took.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKER = "import django; django.setup(); from campaigns.worker import send_work; send_work(send_id={send_id})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-send-", dir=ROOT / "var"))
    endpoint = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsletter.settings.local",
        "SES_ENDPOINT_URL": endpoint,
        "SES_MAX_SEND_RATE": "1000000",
        "SEND_BATCH_SIZE": "200",
        "MEDIA_ROOT": str(workdir / "media"),
        "SITE_URL": "https://news.larkspur-lune.example",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.update(env)
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fast_ses.py"), str(args.port)])  # noqa: S603
    try:
        time.sleep(0.5)
        run(args, env, endpoint)
    finally:
        server.terminate()


def sent_count(endpoint: str) -> int:
    with urllib.request.urlopen(endpoint, timeout=5) as response:  # noqa: S310 - loopback
        return int(response.read())


def run(args, env, endpoint) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from campaigns.demo_content import demo_campaign
    from campaigns.models import Send, SendState
    from campaigns.sending import send_create, send_start
    from subscribers.addresses import address_hmac
    from subscribers.mail import message_build
    from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Topic
    from subscribers.ses import ses_send_raw

    call_command("migrate", verbosity=0)
    page = demo_campaign()
    general = Topic.objects.get(is_default=True)
    Subscriber.objects.filter(email__startswith="bench").delete()
    for start in range(0, args.recipients, 5000):
        emails = [f"bench{n}@mail.example" for n in range(start, min(start + 5000, args.recipients))]
        people = Subscriber.objects.bulk_create(
            Subscriber(email=e, address_hmac=address_hmac(e), first_name="Reader") for e in emails
        )
        Subscription.objects.bulk_create(
            Subscription(subscriber=p, topic=general, status=SubscriptionStatus.ACTIVE) for p in people
        )

    # Raw boto3: the ceiling this endpoint and this machine allow one process.
    raw = message_build(to="bench0@mail.example", subject="Hello", text="t" * 2000, html="<p>h</p>" * 500)
    calls = min(3000, args.recipients)
    started = time.perf_counter()
    for _ in range(calls):
        ses_send_raw(raw_message=raw, to="bench0@mail.example")
    raw_rate = calls / (time.perf_counter() - started)
    raw_fleet_rate = raw_rate * args.workers

    before = sent_count(endpoint)
    started = time.perf_counter()
    send = send_start(send=send_create(page=page))
    snapshot_seconds = time.perf_counter() - started
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER.format(send_id=send.pk)], cwd=ROOT, env=env)  # noqa: S603
        for _ in range(args.workers)
    ]
    first_message = None
    while any(w.poll() is None for w in workers):
        if first_message is None and sent_count(endpoint) > before:
            first_message = time.perf_counter() - started
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    send.refresh_from_db()
    delivered = sent_count(endpoint) - before
    rate = delivered / elapsed
    print(
        f"\nSend benchmark: {args.recipients} recipients, {args.workers} worker processes, "
        f"database {env['DATABASE_URL'].split(':')[0]}"
    )
    print(f"  raw boto3, one process:          {raw_rate:8.0f} calls/s  (x{args.workers} = {raw_fleet_rate:.0f})")
    print(f"  pipeline, end to end:            {rate:8.0f} messages/s  ({delivered} in {elapsed:.1f} s)")
    print(f"  pipeline / raw boto3, one proc:  {rate / raw_rate:8.0%}")
    print(f"  pipeline / raw boto3 x workers:  {rate / raw_fleet_rate:8.0%}")
    print(f"  audience snapshot + render:      {snapshot_seconds:8.2f} s")
    print(f"  time to first message:           {first_message or float('nan'):8.2f} s")
    print(f"  final state: {send.state}; rows: {send.total}")
    assert send.state == SendState.SENT and delivered == send.total, "the benchmark send did not complete"
    Send.objects.filter(pk=send.pk).delete()


if __name__ == "__main__":
    main()
