"""Benchmark: the CSV import of subscribers, at 10,000, 100,000 and 1,000,000 rows.

Run with ``.venv/bin/python bench/bench_import.py [--rows N[,N...]]`` (``make bench`` runs it with the defaults).
It uses DATABASE_URL when set (PostgreSQL, where good rows go in with COPY) and otherwise a throwaway SQLite file.
For each size it writes its own CSV file (addresses unique to the run, so every row is a new subscriber), then
imports it in a fresh process through the same engine as ``manage.py import_subscribers`` and prints rows per
second, the seconds of each phase (reading and checking the rows while streaming them into the staging table;
deciding each row's outcome; writing subscribers, subscriptions and consent events; the commit) and how the
new rows' foreign keys were checked (see docs/imports.md), and the process's peak
resident memory when it had read 10k, 100k and 1M rows and at the end. The rows it imported are deleted afterwards
(``--keep`` keeps them).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = """
import json, resource, sys, django
django.setup()
from subscribers.models import Topic
from subscribers.services.imports import ImportOptions, mapping_guess, csv_header_read, subscribers_import
path, slug = sys.argv[1], sys.argv[2]
marks = {}
def progress(state):
    for mark in (10_000, 100_000, 1_000_000):
        if state["rows"] >= mark and mark not in marks:
            marks[mark] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
options = ImportOptions(mapping=mapping_guess(csv_header_read(path)), topic=Topic.objects.get(slug=slug))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = subscribers_import(path=path, options=options, progress=progress)
print(json.dumps({"report": report.as_dict(), "rss_start_kb": before, "rss_marks_kb": marks,
                  "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def write_file(path: Path, rows: int, tag: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write("Email,First name,Consent source,Consent date,Consent wording\n")
        for n in range(rows):
            out.write(
                f"{tag}-{n}@bench.example,Reader {n},Shop checkout,2025-0{1 + n % 9}-1{n % 10},"
                "Send me Larkspur & Lune news and offers by email\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--keep", action="store_true", help="Keep the imported rows.")
    args = parser.parse_args()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="newsletter.settings.local")
    env.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench-import.sqlite3'}")
    env.setdefault("IMPORT_MAX_FILE_BYTES", str(1024**3))
    os.environ.update(env)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from subscribers.models import Topic

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}; python {sys.version.split()[0]}; {os.cpu_count()} cores")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(n) for n in args.rows.split(",")]:
            tag = f"b{int(time.time())}x{size}"
            topic = Topic.objects.create(name=f"Bench import {tag}", slug=tag)
            path = Path(tmp) / f"{tag}.csv"
            started = time.perf_counter()
            write_file(path, size, tag)
            made = time.perf_counter() - started
            started = time.perf_counter()
            child = subprocess.run(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-c", CHILD, str(path), tag], env=env, capture_output=True, text=True, check=False
            )
            wall = time.perf_counter() - started
            if child.returncode:
                sys.exit(child.stderr)
            data = json.loads(child.stdout.strip().splitlines()[-1])
            report = data["report"]
            assert report["subscriptions_created"] == size and report["consent_events"] == size, report
            seconds = report["seconds"]
            marks = ", ".join(f"{int(k) // 1000:,}k rows {v / 1024:.0f} MiB" for k, v in data["rss_marks_kb"].items())
            print(
                f"{size:>9,} rows ({path.stat().st_size / 1024 / 1024:.0f} MiB file, written in {made:.1f}s): "
                f"{size / seconds['total']:,.0f} rows/s; import {seconds['total']:.1f}s "
                f"(read+check+stage {seconds['read_and_stage']:.1f}s, plan {seconds['plan']:.1f}s, "
                f"write {seconds['write']:.1f}s, commit {seconds.get('commit', 0):.1f}s; foreign keys checked "
                f"{report['reference_checks'] or 'by SQLite'}), process {wall:.1f}s with start-up; "
                f"peak RSS at start {data['rss_start_kb'] / 1024:.0f} MiB, {marks}, "
                f"end {data['rss_peak_kb'] / 1024:.0f} MiB"
            )
            results.append({"rows": size, **seconds, "rss_peak_kb": data["rss_peak_kb"]})
            if not args.keep:
                _delete(tag, topic)
    print(json.dumps(results))


def _delete(tag: str, topic) -> None:
    """Remove the run's rows (the ledger's own manager refuses deletes, so this is SQL, for a benchmark only)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM subscribers_consentevent WHERE topic_id = %s", [topic.pk])
        cursor.execute("DELETE FROM subscribers_subscription WHERE topic_id = %s", [topic.pk])
        cursor.execute("DELETE FROM subscribers_subscriber WHERE email LIKE %s", [f"{tag}-%@bench.example"])
        cursor.execute("DELETE FROM subscribers_topic WHERE id = %s", [topic.pk])


if __name__ == "__main__":
    main()
