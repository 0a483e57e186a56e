"""Benchmark: runs of an automation due at the same moment, sent by real Celery workers, beside a campaign send to
the same number of people on the same machine in the same run.

Run with ``DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/bench_automations.py [--people 100000]``. It
starts the fast SES endpoint of our own (``bench/fast_ses.py``), seeds ``--people`` active subscribers once (the
audience of bench_send.py, reused), and then, each with the worker shape of docs/operations.md (two processes on
the role's queue, one for the rest):

1. campaigns: a send of the demo campaign to them, on ``-Q sends -c 2``;
2. automations: an automation whose one step is an email, with every one of them entered at the same moment (one
   ``bulk_create`` of runs, due now, as a date trigger enters a crowd), on ``-Q automations -c 2``.

For each it reads back from the endpoint the moment of every call, and prints the sustained rate (from 10% to 90% of
the messages), the whole span (first to last message), the time to the first message, and how busy the machine's
cores were over the sustained span with the CPU that took per message (every process: workers, PostgreSQL, Redis
and the endpoint), which says whether the two differ in work or in waiting. Both go through the shared
rate limiter, set to a million a second so that it runs but holds no one back, unless ``--rate`` sets a real limit
(then it prints the share of it used). ``--json`` ends with one JSON line.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_rate import send_times  # noqa: E402 - after the path is set
from bench_send import audience, bench_env, cpu_seconds, workdir_new  # noqa: E402

OTHER_QUEUES = "transactional,feedback,default"


def start_workers(env: dict, workdir: Path, *, role: str, rate: float | None) -> list[tuple[subprocess.Popen, Path]]:
    worker_env = {**env, "SES_MAX_SEND_RATE": str(rate or 1_000_000)}
    workers = []
    for name, queues, processes in ((role, role, 2), ("other", OTHER_QUEUES, 1)):
        log = workdir / f"{role}-{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "newsletter", "worker", "-Q", queues, "-c", str(processes),
            "-n", f"{name}-{role}@bench", "--loglevel", "INFO", "--logfile", str(log), "--without-gossip",
            "--without-mingle",
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


def stop_workers(workers) -> None:
    for process, _ in workers:
        process.send_signal(signal.SIGTERM)
    for process, _ in workers:
        process.wait(timeout=120)


def machine_cpu() -> tuple[float, float, float]:
    """(now, busy seconds, all seconds) of every core of this machine so far, from /proc/stat (Linux)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle and waiting for I/O
    return time.time(), (sum(fields) - idle) / ticks, sum(fields) / ticks



def own_pids(workers) -> list[int]:
    """The processes that do this run's work: the Celery workers with their pool processes, and the PostgreSQL
    backends connected to this database (other than this process's own)."""
    from django.db import connection

    roots = {process.pid for process, _ in workers}
    pids = set(roots)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if parent in roots:
                pids.add(int(entry.name))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids.update(pid for (pid,) in cursor.fetchall())
    return sorted(pids)


def watch(endpoint: str, people: int, workers) -> tuple[list[float], list[tuple[float, float, float]], float]:
    """Poll the endpoint each second until ``people`` messages arrived (or time ran out): the moments of the calls,
    the machine's CPU counters at each poll, and the CPU seconds this run's own processes used meanwhile (workers
    and their PostgreSQL backends: unlike the machine's counters, not moved by other work on the machine)."""
    times: list[float] = []
    samples = [machine_cpu()]
    from django.db import connection

    postgres = connection.vendor == "postgresql"
    first = {pid: cpu_seconds(pid) for pid in own_pids(workers)} if postgres else {}
    last = dict(first)
    deadline = time.monotonic() + people / 50 + 120
    while len(times) < people and time.monotonic() < deadline:
        time.sleep(1.0)
        times += send_times(endpoint)
        samples.append(machine_cpu())
        if postgres:
            for pid in own_pids(workers):
                last[pid] = max(last.get(pid, 0.0), cpu_seconds(pid))
    return times, samples, sum(cpu - first.get(pid, 0.0) for pid, cpu in last.items())



def busy_between(samples: list[tuple[float, float, float]], low: float, high: float) -> tuple[float, float]:
    """(share of all cores busy, busy core-seconds) between the polls nearest ``low`` and ``high``."""
    first = min(samples, key=lambda s: abs(s[0] - low))
    last = min(samples, key=lambda s: abs(s[0] - high))
    if last[2] <= first[2]:
        return 0.0, 0.0
    return (last[1] - first[1]) / (last[2] - first[2]), last[1] - first[1]


def measure(times: list[float], *, started: float, rate: float | None, samples=None) -> dict:
    count = len(times)
    low, high = times[int(count * 0.1)], times[int(count * 0.9) - 1]
    sustained = (int(count * 0.9) - int(count * 0.1)) / (high - low) if high > low else 0.0
    span = times[-1] - times[0]
    busy, busy_seconds = busy_between(samples, low, high) if samples else (0.0, 0.0)
    return {
        "machine_busy": round(busy, 3),
        # All cores' busy time (workers, PostgreSQL, Redis, the endpoint) per message sent over that span.
        "machine_cpu_ms_per_message": round(busy_seconds * 1000 / (sustained * (high - low)), 3) if busy else None,
        "messages": count,
        "sustained_per_second": round(sustained, 1),
        "whole_per_second": round(count / span, 1) if span else 0.0,
        "first_message_seconds": round(times[0] - started, 2),
        "last_message_seconds": round(times[-1] - started, 2),
        "used": round(sustained / rate, 4) if rate else None,
    }


def tables_settled() -> None:
    """Vacuum and analyze the database (PostgreSQL), as its autovacuum does on a live one between sends: the
    audience just seeded gets its statistics, and the rows an earlier run deleted are cleared away. Without it, on a
    server whose autovacuum is off, the planner believes a 100,000-row table empty and picks its plans for that."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def campaign_run(people: int, env: dict, endpoint: str, workdir: Path, rate: float | None) -> dict:
    from campaigns.models import Send
    from campaigns.sending.services import send_create, send_start

    page = audience(people)
    Send.objects.filter(page=page).delete()
    tables_settled()
    workers = start_workers(env, workdir, role="sends", rate=rate)
    try:
        send_times(endpoint)
        started = time.time()
        send_start(send=send_create(page=page))
        times, samples, own_cpu = watch(endpoint, people, workers)
    finally:
        stop_workers(workers)
    times = sorted(times + send_times(endpoint))
    result = measure(times, started=started, rate=rate, samples=samples)
    result["own_cpu_ms_per_message"] = round(own_cpu * 1000 / len(times), 3) if own_cpu else None
    return result


def automation_run(people: int, env: dict, endpoint: str, workdir: Path, rate: float | None) -> dict:
    from django.db import transaction

    from automations.models import Automation, AutomationDelivery, AutomationRun, AutomationTrigger, StepKind
    from automations.pages import automation_email_create
    from automations.services import automation_activate, automation_create, runs_enter_subscribers, step_add
    from campaigns.models import CampaignPage
    from subscribers.models import Subscription, Topic

    page = audience(people)
    topic = Topic.objects.get(slug=f"bench-{people}")
    for old in Automation.objects.filter(name="Benchmark"):
        AutomationDelivery.objects.filter(step__automation=old).delete()
        AutomationRun.objects.filter(automation=old).delete()
        old.steps.all().delete()
        old.delete()
    campaign = CampaignPage.objects.get(pk=page.pk)  # the same content as the campaign, as an automation email
    email = automation_email_create(
        title=f"Benchmark {time.time():.0f}",
        subject=campaign.subject,
        sender=campaign.sender,
        body=campaign.body.raw_data,
        preheader=campaign.preheader,
    )
    automation = automation_create(name="Benchmark", topic=topic, trigger=AutomationTrigger.API_EVENT,
                                   trigger_event="benchmark")
    step_add(automation=automation, kind=StepKind.EMAIL, email=email)
    automation_activate(automation=automation)
    ids = list(Subscription.objects.filter(topic=topic).values_list("subscriber_id", flat=True))
    tables_settled()
    workers = start_workers(env, workdir, role="automations", rate=rate)
    try:
        send_times(endpoint)
        started = time.time()
        with transaction.atomic():  # everyone due at the same moment; the workers are woken after the commit
            runs_enter_subscribers(automation=automation, subscriber_ids=ids, occurrence="")
        entered = time.time() - started
        times, samples, own_cpu = watch(endpoint, people, workers)
    finally:
        stop_workers(workers)
    times = sorted(times + send_times(endpoint))
    result = measure(times, started=started, rate=rate, samples=samples)
    result["own_cpu_ms_per_message"] = round(own_cpu * 1000 / len(times), 3) if own_cpu else None
    result["enter_seconds"] = round(entered, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=None, help="SES_MAX_SEND_RATE (default: unthrottled)")
    parser.add_argument("--ses-latency-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument("--only", choices=("campaign", "automation"), default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    workdir = workdir_new("bench-automations-")
    endpoint = f"http://127.0.0.1:{args.port}"
    env = bench_env(workdir=workdir, endpoint=endpoint)
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "bench" / "fast_ses.py"), str(args.port), str(args.ses_latency_ms)]
    )
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    results = {}
    try:
        time.sleep(0.5)
        for name, run in (("campaign", campaign_run), ("automation", automation_run)):
            if args.only and args.only != name:
                continue
            redis.Redis.from_url(settings.REDIS_URL).delete(f"nl:ses-rate:{settings.SES_REGION}")
            results[name] = run(args.people, env, endpoint, workdir, args.rate)
            r = results[name]
            print(f"\n{name}: {r['messages']:,} messages, sustained {r['sustained_per_second']:,.1f}/s, "
                  f"whole span {r['whole_per_second']:,.1f}/s, first after {r['first_message_seconds']:.2f} s, "
                  f"last after {r['last_message_seconds']:.1f} s" + (f", used {r['used']:.2%}" if r["used"] else "")
                  + f"; the machine {r['machine_busy']:.0%} busy, {r['machine_cpu_ms_per_message']} ms of CPU "
                  "per message (all processes)"
                  + (f", {r['own_cpu_ms_per_message']} ms by its workers and their PostgreSQL backends"
                     if r["own_cpu_ms_per_message"] else ""))
    finally:
        server.terminate()
    if "campaign" in results and "automation" in results:
        ratio = results["automation"]["sustained_per_second"] / results["campaign"]["sustained_per_second"]
        print(f"\nautomations / campaigns, sustained: {ratio:.2%}")
    if args.json:
        print(json.dumps({"people": args.people, "rate": args.rate, **results}))


if __name__ == "__main__":
    main()
