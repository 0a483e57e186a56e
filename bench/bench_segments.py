"""Benchmark: a segment's live count and a send's audience snapshot with a segment, over a million subscribers.

PostgreSQL only (DATABASE_URL must be set; a migrated database). Seeds once, with set-based SQL
(``generate_series``), ``--subscribers`` subscribers (default 1,000,000) on a topic of their own, each with a value
for each of ten attributes (10 million value rows; the value indexes are dropped during the load and built again
after it, as a bulk load does, and foreign-key triggers are off for the loading session only). Later runs reuse it.

Then it measures:

1. ``segment_count`` of a segment of three conditions (country equals Scotland, spend over 100, last order within
   the last 90 days), the median of ``--repeat`` runs after one warm-up, beside the same count with the planner's
   own choice of joins (the yardstick), and prints PostgreSQL's EXPLAIN ANALYZE of each;
2. the send snapshot of a segment selecting about half of them (VIP yes): ``audience_snapshot`` chunk by chunk of
   ``SEND_SNAPSHOT_CHUNK``, each chunk in its own transaction as ``send_audience_continue`` writes them; the rows
   are deleted afterwards.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/bench_segments.py
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

TOPIC = "segment-bench"
ATTRIBUTES = [  # key, type, the SQL of a value for subscriber g, its column
    ("country", "text", "(ARRAY['Scotland','England','Wales','Ireland','France','Germany','Spain','Italy',"
     "'Norway','Sweden'])[1 + g %% 10]", "text"),
    ("town", "text", "'Town ' || (g %% 500)", "text"),
    ("spend", "number", "((g::bigint * 7919) %% 20000) / 100.0", "number"),
    ("orders", "number", "(g * 31) %% 40", "number"),
    ("last_order", "date", "CURRENT_DATE - ((g * 13) %% 365)", "date"),
    ("birthday", "date", "DATE '1950-01-01' + ((g * 17) %% 20000)", "date"),
    ("vip", "boolean", "(g %% 2 = 0)", "boolean"),
    ("marketing_ok", "boolean", "(g %% 5 <> 0)", "boolean"),
    ("metal", "choice", "(ARRAY['gold','silver','platinum','rose gold'])[1 + g %% 4]", "text"),
    ("size", "choice", "(ARRAY['S','M','L','XL'])[1 + (g / 3) %% 4]", "text"),
]
COUNT_SEGMENT = {
    "all": [
        {"field": "attribute:country", "op": "equals", "value": "Scotland"},
        {"field": "attribute:spend", "op": "greater_than", "value": 100},
        {"field": "attribute:last_order", "op": "within_days", "value": 90},
    ]
}
SNAPSHOT_SEGMENT = {"all": [{"field": "attribute:vip", "op": "equals", "value": True}]}


def seed(n: int) -> int:
    from django.db import connection, transaction

    from subscribers.models import Attribute, AttributeValue, Topic

    topic, _ = Topic.objects.get_or_create(slug=TOPIC, defaults={"name": "Segment benchmark"})
    have = topic.subscriptions.count()
    if have >= n:
        print(f"seed: reusing {have:,} subscribers on topic {TOPIC}")
        return topic.pk
    if have:
        raise SystemExit(f"topic {TOPIC} has {have:,} subscribers, fewer than {n:,}: drop the database and run again")
    started = time.perf_counter()
    attributes = {}
    for position, (key, kind, _, _) in enumerate(ATTRIBUTES):
        choices = {"metal": ["gold", "silver", "platinum", "rose gold"], "size": ["S", "M", "L", "XL"]}.get(key, [])
        attributes[key], _ = Attribute.objects.get_or_create(
            key=key, defaults={"label": key.replace("_", " ").capitalize(), "type": kind, "choices": choices,
                               "position": position}
        )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # no FK triggers: the rows are consistent
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM subscribers_subscriber")
        base = cursor.fetchone()[0]
        cursor.execute(
            """
            INSERT INTO subscribers_subscriber (id, email, address_hmac, first_name, public_id, created_at)
            SELECT %s + g, 'segbench' || g || '@mail.example', md5('a' || g) || md5('b' || g), 'Reader',
                   gen_random_uuid(), now() - (g %% 1000) * interval '1 day'
            FROM generate_series(1, %s) g
            """,
            [base, n],
        )
        cursor.execute(
            """
            INSERT INTO subscribers_subscription (subscriber_id, topic_id, status, lawful_basis, public_id,
                                                  confirm_nonce_hash, requested_at, confirmed_at)
            SELECT %s + g, %s, 'active', 'consent', gen_random_uuid(), '', now(), now()
            FROM generate_series(1, %s) g
            """,
            [base, topic.pk, n],
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('subscribers_subscriber', 'id'), "
            "(SELECT MAX(id) FROM subscribers_subscriber))"
        )
        print(f"seed: {n:,} subscribers and subscriptions in {time.perf_counter() - started:.1f} s")
        with connection.schema_editor(atomic=False) as editor:
            for index in AttributeValue._meta.indexes:
                editor.remove_index(AttributeValue, index)
            for constraint in AttributeValue._meta.constraints:
                editor.remove_constraint(AttributeValue, constraint)
        for key, _, expression, column in ATTRIBUTES:
            # The text column is never NULL: "" when the value lives in another column.
            columns, values = ("text", expression) if column == "text" else (f"text, {column}", f"'', {expression}")
            cursor.execute(
                f"""
                INSERT INTO subscribers_attributevalue (subscriber_id, attribute_id, {columns}, updated_at)
                SELECT %s + g, %s, {values}, now() FROM generate_series(1, %s) g
                """,  # noqa: S608 - the bench's own constants
                [base, attributes[key].pk, n],
            )
        print(f"seed: {10 * n:,} attribute values in {time.perf_counter() - started:.1f} s")
        with connection.schema_editor(atomic=False) as editor:
            for index in AttributeValue._meta.indexes:
                editor.add_index(AttributeValue, index)
            for constraint in AttributeValue._meta.constraints:
                editor.add_constraint(AttributeValue, constraint)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE subscribers_attributevalue")
        cursor.execute("VACUUM ANALYZE subscribers_subscriber")
        cursor.execute("VACUUM ANALYZE subscribers_subscription")
    print(f"seed: done, with indexes and statistics, in {time.perf_counter() - started:.1f} s")
    return topic.pk


def bench_count(repeat: int) -> None:
    from django.db import connection

    from campaigns.segments.selectors import segment_count, segment_count_planning, segment_subscribers

    sql, params = segment_subscribers(COUNT_SEGMENT).order_by().values("pk").query.sql_with_params()
    # The yardstick, in the same run: the same count with the planner's own choice of joins.
    for label, hash_joins in (("planner's own joins", False), ("as segment_count plans it", None)):
        with segment_count_planning(COUNT_SEGMENT, hash_joins=hash_joins):
            segment_subscribers(COUNT_SEGMENT).count()  # warm-up
        times, count = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            with segment_count_planning(COUNT_SEGMENT, hash_joins=hash_joins):
                count = segment_subscribers(COUNT_SEGMENT).count()
            times.append((time.perf_counter() - started) * 1000)
        print(f"count of three conditions, {label}: {count:,} people; median {statistics.median(times):.0f} ms, "
              f"min {min(times):.0f}, max {max(times):.0f} over {repeat} runs")
        with segment_count_planning(COUNT_SEGMENT, hash_joins=hash_joins), connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) SELECT COUNT(*) FROM ({sql}) q", params)  # noqa: S608
            print("\n".join("    " + row[0] for row in cursor.fetchall()))
    assert segment_count(COUNT_SEGMENT) == count


def bench_snapshot(topic_id: int) -> None:
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from campaigns.authoring.demo_content import campaign_index
    from campaigns.models import CampaignPage, Delivery, Send, SendState
    from campaigns.sending.audience import audience_snapshot

    page = CampaignPage.objects.filter(slug="segment-bench").first()
    if page is None:
        page = CampaignPage(title="Segment bench", slug="segment-bench", subject="Hello",
                            sender=settings.CAMPAIGN_SENDERS[0], body=[("heading", {"text": "Hi", "level": "h1"})])
        campaign_index().add_child(instance=page)
        page.save_revision().publish()
        page.refresh_from_db()
    send = Send.objects.create(page=page, revision_id=page.live_revision_id, state=SendState.SENDING)
    now, cursor, total, chunks = timezone.now(), 0, 0, 0
    started = time.perf_counter()
    while True:
        with transaction.atomic():
            rows, end = audience_snapshot(send_id=send.pk, topic_ids=[topic_id], after=cursor,
                                          size=settings.SEND_SNAPSHOT_CHUNK, segment_definition=SNAPSHOT_SEGMENT,
                                          now=now)
        total, chunks = total + rows, chunks + 1
        if end is None:
            break
        cursor = end
    seconds = time.perf_counter() - started
    print(f"snapshot with a segment: {total:,} rows in {chunks} chunks of {settings.SEND_SNAPSHOT_CHUNK:,} "
          f"in {seconds:.2f} s ({total / seconds:,.0f} rows/s)")
    Delivery.objects.filter(send=send).delete()
    send.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database: this benchmark measures PostgreSQL.")
    import django

    django.setup()
    topic_id = seed(args.subscribers)
    bench_count(args.repeat)
    bench_snapshot(topic_id)


if __name__ == "__main__":
    main()
