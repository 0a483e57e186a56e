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

``--attributes`` also imports, in the same run and right after each plain file, a file of the same size with three
attribute columns (a number, a date and one of a list, declared for the run and deleted after it), and prints both
times and their ratio, and (on PostgreSQL) how long the database alone takes to write the value rows those columns
add, rolled back: the yardstick that bounds how close to the plain import the ratio can come.
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
from subscribers.models import Attribute
from subscribers.services.imports import ImportOptions, mapping_guess, csv_header_read, subscribers_import
path, slug = sys.argv[1], sys.argv[2]
marks = {}
def progress(state):
    for mark in (10_000, 100_000, 1_000_000):
        if state["rows"] >= mark and mark not in marks:
            marks[mark] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
mapping = mapping_guess(csv_header_read(path), Attribute.objects.all())
options = ImportOptions(mapping=mapping, topic=Topic.objects.get(slug=slug))
from django.db import connection
sys.path.insert(1, 'bench')
from bench_send import cpu_seconds
backend = None
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, cpu_seconds(backend) if backend else 0.0
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu_before = cpu()
report = subscribers_import(path=path, options=options, progress=progress)
cpu_after = cpu()
print(json.dumps({"report": report.as_dict(), "rss_start_kb": before, "rss_marks_kb": marks,
                  "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "cpu_python": cpu_after[0] - cpu_before[0], "cpu_database": cpu_after[1] - cpu_before[1]}))
"""


ATTRIBUTE_KEYS = ("bench_spend", "bench_birthday", "bench_tier")


def write_file(path: Path, rows: int, tag: str, attributes: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as out:
        extra = "," + ",".join(ATTRIBUTE_KEYS) if attributes else ""
        out.write(f"Email,First name,Consent source,Consent date,Consent wording{extra}\n")
        tiers = ("gold", "Silver", "BRONZE")
        for n in range(rows):
            if attributes:
                extra = f",{n % 5000}.{n % 100:02d},19{50 + n % 50}-0{1 + n % 9}-{10 + n % 19},{tiers[n % 3]}"
            out.write(
                f"{tag}-{n}@bench.example,Reader {n},Shop checkout,2025-0{1 + n % 9}-1{n % 10},"
                f"Send me Larkspur & Lune news and offers by email{extra}\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--keep", action="store_true", help="Keep the imported rows.")
    parser.add_argument(
        "--attributes",
        action="store_true",
        help="After each plain file, import one of the same size with three attribute columns; print the ratio.",
    )
    args = parser.parse_args()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="newsletter.settings.local")
    env.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench-import.sqlite3'}")
    env.setdefault("IMPORT_MAX_FILE_BYTES", str(1024**3))
    os.environ.update(env)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from subscribers.models import Attribute, AttributeType

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}; python {sys.version.split()[0]}; {os.cpu_count()} cores")
    attributes = []
    if args.attributes:
        Attribute.objects.filter(key__in=ATTRIBUTE_KEYS).delete()  # left by an interrupted run
        attributes = [
            Attribute.objects.create(key=ATTRIBUTE_KEYS[0], label="Bench spend", type=AttributeType.NUMBER),
            Attribute.objects.create(key=ATTRIBUTE_KEYS[1], label="Bench birthday", type=AttributeType.DATE),
            Attribute.objects.create(
                key=ATTRIBUTE_KEYS[2],
                label="Bench tier",
                type=AttributeType.CHOICE,
                choices=["Gold", "Silver", "Bronze"],
            ),
        ]
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size in [int(n) for n in args.rows.split(",")]:
                plain = _run(size, Path(tmp), env, keep=args.keep, attributes=False)
                results.append(plain)
                if attributes:
                    with_attributes = _run(size, Path(tmp), env, keep=args.keep, attributes=True)
                    results.append(with_attributes)
                    print(
                        f"{size:>9,} rows: plain {plain['total']:.1f}s, with three attribute columns "
                        f"{with_attributes['total']:.1f}s: ratio {with_attributes['total'] / plain['total']:.2f}"
                    )
                    if connection.vendor == "postgresql":
                        floor = _values_floor(size, attributes)
                        print(
                            f"{size:>9,} rows: the database alone writes the {3 * size:,} value rows in {floor:.1f}s "
                            f"(an INSERT ... SELECT per attribute, no import); the lowest ratio they leave is "
                            f"{(plain['total'] + floor) / plain['total']:.2f}"
                        )
    finally:
        if attributes and not args.keep:
            Attribute.objects.filter(key__in=ATTRIBUTE_KEYS).delete()
    print(json.dumps(results))


def _run(size: int, tmp: Path, env: dict, *, keep: bool, attributes: bool) -> dict:
    """Write a file of ``size`` rows and import it in a fresh process; print and return its numbers."""
    from subscribers.models import Topic

    tag = f"b{int(time.time())}x{size}{'a' if attributes else ''}"
    topic = Topic.objects.create(name=f"Bench import {tag}", slug=tag)
    path = tmp / f"{tag}.csv"
    started = time.perf_counter()
    write_file(path, size, tag, attributes)
    made = time.perf_counter() - started
    started = time.perf_counter()
    child = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CHILD, str(path), tag],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if child.returncode:
        sys.exit(child.stderr)
    data = json.loads(child.stdout.strip().splitlines()[-1])
    report = data["report"]
    assert report["subscriptions_created"] == size and report["consent_events"] == size, report
    assert report["attribute_values"] == (3 * size if attributes else 0), report
    seconds = report["seconds"]
    marks = ", ".join(f"{int(k) // 1000:,}k rows {v / 1024:.0f} MiB" for k, v in data["rss_marks_kb"].items())
    print(
        f"{size:>9,} rows{' with 3 attribute columns' if attributes else ''} "
        f"({path.stat().st_size / 1024 / 1024:.0f} MiB file, written in {made:.1f}s): "
        f"{size / seconds['total']:,.0f} rows/s; import {seconds['total']:.1f}s "
        f"(read+check+stage {seconds['read_and_stage']:.1f}s, plan {seconds['plan']:.1f}s, "
        f"write {seconds['write']:.1f}s, commit {seconds.get('commit', 0):.1f}s; foreign keys checked "
        f"{report['reference_checks'] or 'by SQLite'}), process {wall:.1f}s with start-up; "
        f"peak RSS at start {data['rss_start_kb'] / 1024:.0f} MiB, {marks}, "
        f"end {data['rss_peak_kb'] / 1024:.0f} MiB; CPU: import process {data['cpu_python']:.1f}s, "
        f"its database backend {data['cpu_database']:.1f}s (0 when not on this machine or not PostgreSQL)"
    )
    if not keep:
        _delete(tag, topic)
    return {
        "rows": size,
        "attributes": attributes,
        **seconds,
        "rss_peak_kb": data["rss_peak_kb"],
        "cpu_python": round(data["cpu_python"], 1),
        "cpu_database": round(data["cpu_database"], 1),
    }


def _values_floor(size: int, attributes) -> float:
    """The yardstick for the ratio: how long PostgreSQL alone takes to write the value rows an attribute import of
    ``size`` rows adds (``size`` values of each attribute, for subscribers given ids past the last, in id order, one
    statement per attribute as the import writes them, foreign-key triggers off for this transaction), rolled back.
    Whatever the import does, it writes these rows into the same heap and the same indexes."""
    from django.db import connection, transaction

    number, day, tier = attributes
    values = (
        (number, "''", "(g %% 5000) + (g %% 100) / 100.0", "NULL::date"),
        (day, "''", "NULL", "DATE '1950-01-01' + (g %% 18000)"),
        (tier, "(ARRAY['Gold', 'Silver', 'Bronze'])[1 + g %% 3]", "NULL", "NULL::date"),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM subscribers_subscriber")
        base = cursor.fetchone()[0]
        started = time.perf_counter()
        for attribute, text, number_sql, date_sql in values:
            cursor.execute(
                f"""
                INSERT INTO subscribers_attributevalue
                    (subscriber_id, attribute_id, text, number, date, boolean, updated_at)
                SELECT %s + g, %s, {text}, {number_sql}, {date_sql}, NULL, now() FROM generate_series(1, %s) g
                """,  # noqa: S608 - fixed text
                [base, attribute.pk, size],
            )
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def _delete(tag: str, topic) -> None:
    """Remove the run's rows (the ledger's own manager refuses deletes, so this is SQL, for a benchmark only)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM subscribers_attributevalue WHERE subscriber_id IN "
            "(SELECT id FROM subscribers_subscriber WHERE email LIKE %s)",
            [f"{tag}-%@bench.example"],
        )
        cursor.execute("DELETE FROM subscribers_consentevent WHERE topic_id = %s", [topic.pk])
        cursor.execute("DELETE FROM subscribers_subscription WHERE topic_id = %s", [topic.pk])
        cursor.execute("DELETE FROM subscribers_subscriber WHERE email LIKE %s", [f"{tag}-%@bench.example"])
        cursor.execute("DELETE FROM subscribers_topic WHERE id = %s", [topic.pk])


if __name__ == "__main__":
    main()
