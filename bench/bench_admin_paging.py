"""Benchmark: the consent history's first page against a deep one, over millions of consent events.

PostgreSQL only (DATABASE_URL must be set, a scratch database: it is filled). Seeds once, with set-based SQL
(``generate_series``), ``--subscribers`` subscribers (default 1,000,000) and three consent events each, two of
every pair at the same instant, over about three years, and the newest 300,000 at one instant, as an import of
that many people writes them. Then, in one process with Django's test client and a
superuser logged in, it loads ``--loads`` times each of: the first page, the page holding the ``--deep``-th event
(default 2,000,000), one in the middle of the import's events, the first and a deep page filtered by action, and
prints the median and the slowest.

The deep page is reached as the code of the day reaches it: by number (``?p=``) where the listing pages with an
OFFSET, by the position of the row before it (``?after=``) where it pages by keyset, so the same script measures
before and after.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/bench_admin_paging.py [--loads 10]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter.settings.local")

SEED = """
INSERT INTO subscribers_subscriber (email, address_hmac, first_name, public_id, created_at)
SELECT 'paging' || g || '@mail.example', '', '', md5('paging' || g)::uuid, now() - g * interval '1 second'
FROM generate_series(1, %(n)s) g;
INSERT INTO subscribers_consentevent (subscriber_id, purpose, action, source, occurred_at, wording_hash, detail)
SELECT s.first + (g %% %(n)s), 'marketing', (ARRAY['requested', 'confirmed', 'withdrawn'])[1 + g %% 3], 'public_form',
       timestamptz '2026-12-07 00:00:00+00' - (g / 2) * interval '31 seconds', '', ''
FROM generate_series(0, 3 * %(n)s - 1) g, (SELECT min(id) AS first FROM subscribers_subscriber
                                            WHERE email LIKE 'paging%%') s;
INSERT INTO subscribers_consentevent (subscriber_id, purpose, action, source, occurred_at, wording_hash, detail)
SELECT s.first + g, 'marketing', 'imported', 'import', timestamptz '2026-12-07 01:00:00+00', '', ''
FROM generate_series(0, 3 * %(n)s / 10 - 1) g, (SELECT min(id) AS first FROM subscribers_subscriber
                                                 WHERE email LIKE 'paging%%') s;
"""
PAGE_SIZE = 20


def seed(n: int) -> None:
    from django.db import connection

    from subscribers.models import ConsentEvent

    have = ConsentEvent.objects.count()
    if have >= 3 * n + 3 * n // 10:
        print(f"seed: reusing {have:,} consent events")
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(SEED, {"n": n})
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE subscribers_subscriber")
        cursor.execute("VACUUM ANALYZE subscribers_consentevent")
    print(f"seed: {3 * n + 3 * n // 10:,} consent events in {time.perf_counter() - started:.0f} s")


def deep_query(deep: int, **filters) -> dict:
    """The query string of the page holding the ``deep``-th row, newest first, as this code pages."""
    from subscribers.admin import paging
    from subscribers.models import ConsentEvent

    if not hasattr(paging, "Keyset"):
        return {**filters, "p": deep // PAGE_SIZE + 1}
    keyset = paging.Keyset(("-occurred_at", "-id"))
    rows = ConsentEvent.objects.filter(**filters).order_by(*keyset.fields)
    before = rows[deep - 1]  # found once, outside the timing (an OFFSET itself)
    return {**filters, "after": keyset.encode(before)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--deep", type=int, default=2_000_000)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse

    from subscribers.models import User

    setup_test_environment()  # lets the test client answer for any host
    settings.ALLOWED_HOSTS = ["*"]
    seed(args.subscribers)
    user, _ = User.objects.get_or_create(
        email="paging-bench@mail.example", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    index = reverse("consentevent:index")
    pages = {
        "first page": {},
        f"page holding row {args.deep:,}": deep_query(args.deep),
        f"row {args.subscribers * 3 // 20:,}, in an import's instant": deep_query(args.subscribers * 3 // 20),
        "first page, action=withdrawn": {"action": "withdrawn"},
        f"action=withdrawn, row {args.deep // 3:,}": deep_query(args.deep // 3, action="withdrawn"),
    }
    from django.db import connection

    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for label, query in pages.items():
        assert client.get(index, query).status_code == 200  # warm, and the count kept
        times = []
        for _ in range(args.loads):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(index, query)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        offset = any(" OFFSET " in q["sql"].upper() for q in captured)
        print(
            f"{label:40} median {statistics.median(times):7.1f} ms  slowest {max(times):7.1f} ms  "
            f"{len(captured)} queries{'  (OFFSET)' if offset else ''}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
