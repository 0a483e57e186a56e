"""Benchmark: every admin page over a million subscribers, through gunicorn, as a member of staff loads them.

PostgreSQL only (DATABASE_URL must be set). Seeds once, with set-based SQL (``generate_series``):
``--subscribers`` subscribers (default 1,000,000), each subscribed to one of two topics (four in five to the
first); three consent events each (requested, confirmed, and for one in ten a withdrawal or an import); ten sent
campaign sends of a million delivery rows each (10,000,000 rows; some bounced, complained or clicked), as a
shop a few years in would have. Later runs reuse it.

Then it starts gunicorn (``--workers``, default 2, sync, the local settings with DEBUG off), logs a superuser in,
finds every page of the admin's menu from the sidebar (and the pages behind them: a subscriber, a campaign, its
send page, a send's progress and report, a search), loads each once to warm it, then ``--loads`` times one after
another, and prints per page the median, the 95th percentile and the slowest, with the number of bytes.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/bench_admin.py [--loads 20]

The target (issue 20): every page under 300 ms at the 95th percentile.
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter.settings.local")

SENDS = 10
# Pages that count in the background (subscribers.kept_counts) and say so until the first count is there.
BACKGROUND_COUNTED = ("the send page of a campaign to the million", "a send's report")
TOPICS = (("admin-bench", "Admin benchmark"), ("admin-bench-offers", "Admin benchmark offers"))
STAFF_EMAIL = "admin-bench@mail.example"


def seed(n: int) -> None:
    """The subscribers, consent events and sends, once: a second run finds them and goes on."""
    from django.db import connection, transaction

    from campaigns.models import Delivery, Send
    from subscribers.models import ConsentEvent, Subscriber, Subscription, Topic

    topics = [Topic.objects.get_or_create(slug=slug, defaults={"name": name})[0] for slug, name in TOPICS]
    have = Subscription.objects.filter(topic__in=topics).count()
    if have >= n:
        print(f"seed: reusing {have:,} subscriptions on the benchmark topics")
        return
    if have:
        raise SystemExit(f"the benchmark topics hold {have:,} subscriptions, not {n:,}: drop the database, run again")
    page = _campaign(topics[0])
    started = time.perf_counter()

    def step(label: str, sql: str, params: list) -> None:
        cursor.execute(sql, params)
        print(f"seed: {label} ({time.perf_counter() - started:.0f} s)", flush=True)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # no FK triggers: the rows are consistent
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM subscribers_subscriber")
        base = cursor.fetchone()[0]
        step(
            f"{n:,} subscribers",
            """
            INSERT INTO subscribers_subscriber (id, email, address_hmac, first_name, public_id, created_at)
            SELECT %s + g, 'adminbench' || g || '@mail.example', md5('a' || g) || md5('b' || g),
                   (ARRAY['Ada','Ben','Cara','Dev','Esme','Finn'])[1 + g %% 6], gen_random_uuid(),
                   now() - (g %% 1500) * interval '1 day'
            FROM generate_series(1, %s) g
            """,
            [base, n],
        )
        step(
            f"{n:,} subscriptions",
            """
            INSERT INTO subscribers_subscription (subscriber_id, topic_id, status, lawful_basis, public_id,
                                                  confirm_nonce_hash, requested_at, confirmed_at, unsubscribed_at)
            SELECT %s + g, CASE WHEN g %% 5 = 0 THEN %s ELSE %s END,
                   CASE WHEN g %% 10 = 3 THEN 'unsubscribed' ELSE 'active' END, 'consent', gen_random_uuid(), '',
                   now() - (g %% 1500) * interval '1 day', now() - (g %% 1500) * interval '1 day',
                   CASE WHEN g %% 10 = 3 THEN now() - (g %% 300) * interval '1 day' END
            FROM generate_series(1, %s) g
            """,
            [base, topics[1].pk, topics[0].pk, n],
        )
        step(
            f"{3 * n:,} consent events",
            """
            INSERT INTO subscribers_consentevent (subscriber_id, topic_id, purpose, action, source, occurred_at,
                                                  wording_hash, detail)
            SELECT %s + g, CASE WHEN g %% 5 = 0 THEN %s ELSE %s END, 'marketing',
                   (ARRAY['requested','confirmed',
                          CASE WHEN g %% 10 = 3 THEN 'withdrawn' ELSE 'given' END])[k],
                   (ARRAY['public_form','email_link','account_page'])[k],
                   now() - (g %% 1500) * interval '1 day' + k * interval '1 hour', md5('w' || k), ''
            FROM generate_series(1, %s) g, generate_series(1, 3) k
            """,
            [base, topics[1].pk, topics[0].pk, n],
        )
        sends = []
        for number in range(SENDS):
            moment = f"now() - interval '{7 * (SENDS - number)} days'"
            cursor.execute(
                f"""
                INSERT INTO campaigns_send (page_id, revision_id, state, pause_reason, created_at, started_at,
                                            finished_at, total, opens, audience_complete, audience_cursor,
                                            subject_source, html_source, text_source, sender, reply_to,
                                            segment_name)
                VALUES (%s, %s, 'sent', '', {moment}, {moment}, {moment} + interval '2 hours', %s, 0, true, 0,
                        'Week {number + 1}', '<p>Week {number + 1}</p>', 'Week {number + 1}', 'shop@mail.example',
                        '', '')
                RETURNING id
                """,  # noqa: S608 - the bench's own constants
                [page.pk, page.live_revision_id, n],
            )
            sends.append(cursor.fetchone()[0])
        with connection.schema_editor(atomic=False) as editor:
            for index in Delivery._meta.indexes:
                editor.remove_index(Delivery, index)
            for constraint in Delivery._meta.constraints:
                editor.remove_constraint(Delivery, constraint)
        for number, send_id in enumerate(sends):
            step(
                f"send {number + 1} of {SENDS}: {n:,} delivery rows",
                """
                INSERT INTO campaigns_delivery (send_id, subscriber_id, subscription_id, state, attempts,
                                                claimed_by, ses_message_id, reason, attempted_at, finished_at,
                                                delivered_at, bounce_type, bounced_at, complained_at, clicked_at)
                SELECT %s, %s + g, s.id, 'sent', 1, '', 'bench-' || %s || '-' || g, '', now(), now(),
                       CASE WHEN g %% 50 <> 7 THEN now() END,
                       CASE WHEN g %% 50 = 7 THEN 'permanent' ELSE '' END,
                       CASE WHEN g %% 50 = 7 THEN now() END,
                       CASE WHEN g %% 2000 = 11 THEN now() END,
                       CASE WHEN g %% 9 = 4 THEN now() END
                FROM generate_series(1, %s) g
                JOIN subscribers_subscription s ON s.subscriber_id = %s + g
                """,
                [send_id, base, send_id, n, base],
            )
        with connection.schema_editor(atomic=False) as editor:
            for index in Delivery._meta.indexes:
                editor.add_index(Delivery, index)
            for constraint in Delivery._meta.constraints:
                editor.add_constraint(Delivery, constraint)
        print(f"seed: delivery indexes built ({time.perf_counter() - started:.0f} s)", flush=True)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('subscribers_subscriber', 'id'), "
            "(SELECT MAX(id) FROM subscribers_subscriber))"
        )
    with connection.cursor() as cursor:
        for model in (Subscriber, Subscription, ConsentEvent, Send, Delivery):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    print(f"seed: done, with indexes and statistics, in {time.perf_counter() - started:.0f} s", flush=True)


def _campaign(topic):
    from campaigns.authoring.demo_content import demo_campaign

    page = demo_campaign()
    page.topics.set([topic])
    page.save_revision().publish()
    page.refresh_from_db()
    return page


def session_cookie() -> str:
    """A logged-in superuser's session, made through Django's own login (the web processes share its store)."""
    from django.test import Client

    from subscribers.models import User

    user = User.objects.filter(email=STAFF_EMAIL).first()
    if user is None:
        user = User.objects.create_superuser(email=STAFF_EMAIL, password=None)
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def load(base: str, path: str, cookie: str) -> tuple[float, int, int]:
    """Milliseconds, status and bytes of one GET."""
    request = urllib.request.Request(base + path, headers={"Cookie": cookie})  # noqa: S310 - loopback
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
            body, status = response.read(), response.status
    except urllib.error.HTTPError as err:
        body, status = err.read(), err.code
    return (time.perf_counter() - started) * 1000, status, len(body)


def menu_pages(base: str, cookie: str) -> list[str]:
    """Every admin address the sidebar offers this user, in its order (the menu is data in the dashboard)."""
    request = urllib.request.Request(base + "/admin/", headers={"Cookie": cookie})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
        html = response.read().decode()
    found = re.search(r'<script id="wagtail-sidebar-props" type="application/json">(.*?)</script>', html, re.S)
    urls = re.findall(r'"url": "(/admin/[^"]*)"', found.group(1) if found else html)
    skip = ("/admin/logout/", "/admin/account/")
    return [url for url in dict.fromkeys(urls) if not url.startswith(skip)]


def detail_pages() -> list[tuple[str, str]]:
    from django.urls import reverse

    from campaigns.models import CampaignPage, Send
    from subscribers.models import Subscriber

    page = CampaignPage.objects.get(slug="winter-collection")
    send = Send.objects.filter(page=page).order_by("-pk").first()
    people = Subscriber.objects.filter(email__startswith="adminbench")
    person = people.order_by("pk")[people.count() // 2 :][:1].get()  # one from the middle
    pages = [
        ("a campaign in the editor", f"/admin/pages/{page.pk}/edit/"),
        ("the send page of a campaign to the million", reverse("campaigns_admin:send", args=[page.pk])),
        ("a send's progress", reverse("campaigns_admin:send_progress", args=[send.pk])),
        ("a send's report", reverse("campaigns_admin:send_report", args=[send.pk])),
        ("a subscriber", f"/admin/subscriber/inspect/{person.pk}/"),
        ("subscribers, search for an address", f"/admin/subscriber/?q={person.email}"),
        ("subscribers, search for part of an address", "/admin/subscriber/?q=bench12345"),
        ("consent history, second page", consent_history_after(20)),
        ("consent history, the page holding the 2,000,000th event", consent_history_after(1_999_999)),
    ]
    return pages


def consent_history_after(rows: int) -> str:
    """The consent history's page after its ``rows``-th event, as its Older link names it (paged by position)."""
    from subscribers.admin.paging import Keyset
    from subscribers.models import ConsentEvent

    newest_first = Keyset(("-occurred_at", "-id"))
    events = ConsentEvent.objects.order_by(*newest_first.fields)
    edge = events[min(rows, events.count()) - 1]  # found once, before the timing
    return f"/admin/consentevent/?after={newest_first.encode(edge)}"


def warm_background_counts(base: str, cookie: str, pages: list[tuple[str, str]]) -> None:
    """Open the pages whose counts run in the background until each shows its count, as a marketer who opens them
    once and comes back would find them: the measured loads are of the page, not of its first count. Prints how
    long each first count took."""
    for label, path in pages:
        if label not in BACKGROUND_COUNTED:
            continue
        started = time.perf_counter()
        while True:
            request = urllib.request.Request(base + path, headers={"Cookie": cookie})  # noqa: S310 - loopback
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
                html = response.read().decode()
            if "data-reload-seconds" not in html:
                break
            if time.perf_counter() - started > 600:
                raise SystemExit(f"{label}: still counting after ten minutes; is a worker on the default queue?")
            time.sleep(1)
        print(f"{label}: first background count ready after {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--loads", type=int, default=20, help="loads of each page after one to warm it")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--json", action="store_true", help="end with one JSON line per page")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database: this benchmark measures PostgreSQL.")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seed(args.subscribers)
    cookie = session_cookie()
    pages = detail_pages()
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [BIN / "gunicorn", "newsletter.wsgi", "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "--timeout", "300"],
        cwd=ROOT, env={**os.environ},
    )  # fmt: skip
    # The background counts (the send page's audience, a large send's report) run on the default queue: a worker
    # for it, as docs/operations.md runs one on each machine.
    worker = subprocess.Popen(  # noqa: S603
        [BIN / "celery", "-A", "newsletter", "worker", "-Q", "transactional,feedback,default", "-c", "1",
         "--loglevel", "WARNING", "-n", "admin-bench@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env={**os.environ},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        wait_for(port)
        warm_background_counts(base, cookie, pages)
        pages = [("dashboard", "/admin/")] + [(f"menu: {url}", url) for url in menu_pages(base, cookie)] + pages
        for label, path in pages:
            load(base, path, cookie)  # warm: the first load of a page fills caches and starts background counts
            times, statuses, size = [], set(), 0
            for _ in range(args.loads):
                ms, status, size = load(base, path, cookie)
                times.append(ms)
                statuses.add(status)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            result = {"page": label, "path": path, "median_ms": round(statistics.median(times), 1),
                      "p95_ms": round(p95, 1), "max_ms": round(times[-1], 1), "status": sorted(statuses),
                      "bytes": size}  # fmt: skip
            results.append(result)
            flag = "" if p95 < 300 else "   <- over 300 ms"
            print(f"{label[:60]:60} median {result['median_ms']:7.1f} ms  p95 {p95:7.1f}  max {times[-1]:7.1f}  "
                  f"{'/'.join(map(str, sorted(statuses)))}  {size:,} bytes{flag}", flush=True)  # fmt: skip
    finally:
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            process.wait(timeout=60)
    over = [r for r in results if r["p95_ms"] >= 300]
    print(f"\n{len(results)} pages, {args.loads} loads each after one; {len(over)} over 300 ms at the 95th "
          f"percentile; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if args.json:
        for result in results:
            print(json.dumps(result))


if __name__ == "__main__":
    main()
