"""Benchmark: render a campaign once, then personalise and build one message per recipient.

Run with ``make bench`` (or ``.venv/bin/python bench/bench_campaign.py``). It needs nothing but a fresh clone:
it migrates a throwaway SQLite database in a temporary directory under ``var/``, seeds the demo campaign
(every block type) and a few thousand subscribers, measures with ``time.perf_counter`` and prints a table.
The directory is removed afterwards. Results are recorded by hand in docs/BENCHMARKS.md.

Targets (issue "Campaign authoring and email rendering"): render < 100 ms once per campaign; personalise and
build one message < 0.5 ms.
"""

import argparse
import datetime
import io
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST_NAMES = ["Grace", "Ada", "Zoë", "Siobhán", "O'Brien", "Mary-Jane", "", "Ngozi", "<b>Tom</b>", "Élodie"]


def django_setup(workdir: Path) -> None:
    """Local settings on a throwaway SQLite file and media directory; cache keys of their own."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "newsletter.settings.local"
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["DEBUG"] = "false"  # DEBUG keeps every SQL query in memory, which would skew the numbers
    os.environ.setdefault("SITE_URL", "https://news.larkspur-lune.example")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django
    from django.conf import settings

    # Image renditions are cached by image id and file hash, which match the demo's own images: a prefix of
    # our own keeps this throwaway database's renditions out of a running demo's cache, and theirs out of ours.
    settings.CACHES["default"]["KEY_PREFIX"] = "nl-bench"
    django.setup()
    _bench_cache_clear()


def _bench_cache_clear() -> None:
    """Delete this benchmark's cache keys only (never FLUSHDB: the demo's Celery queue may share the database)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    keys = list(client.scan_iter("nl-bench:*", count=1000))
    if keys:
        client.delete(*keys)


def seed(recipients: int):
    """Migrate, seed the demo campaign, and bulk-create active subscribers of its topic."""
    from django.core.management import call_command
    from django.utils import timezone

    from campaigns.authoring.demo_content import demo_campaign
    from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Topic

    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_campaigns", stdout=io.StringIO())
    page = demo_campaign()
    topic = Topic.objects.get(is_default=True)
    now = timezone.now()
    rng = random.Random(3)
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=f"reader{i}@mail.example", first_name=rng.choice(FIRST_NAMES), email_confirmed_at=now)
        for i in range(recipients)
    )
    Subscription.objects.bulk_create(
        Subscription(subscriber=s, topic=topic, status=SubscriptionStatus.ACTIVE, confirmed_at=now) for s in subscribers
    )
    return page


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))]


def timed(function, items) -> list[float]:
    """Seconds each call of ``function(item)`` took."""
    samples = []
    for item in items:
        start = time.perf_counter()
        function(item)
        samples.append(time.perf_counter() - start)
    return samples


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.machine()}"
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {system}"


def run(*, render_runs: int, recipients: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.authoring.merge import header_safe
    from campaigns.authoring.personalise import campaign_message_build, merge_values
    from campaigns.authoring.rendering import campaign_render
    from campaigns.models import CampaignPage
    from subscribers.links import list_unsubscribe_headers
    from subscribers.mail import message_build
    from subscribers.models import Subscription, SubscriptionStatus

    page = CampaignPage.objects.get(pk=seed(recipients).pk)

    # (a) Render once per campaign. The first render also draws the image renditions (Pillow); a send renders
    # after its preview has, so the warm figure is the one the target is about.
    start = time.perf_counter()
    rendered = campaign_render(page=page)
    first_render = time.perf_counter() - start
    for _ in range(5):
        campaign_render(page=page)
    with CaptureQueriesContext(connection) as render_queries:
        campaign_render(page=page)
    render_samples = timed(lambda _: campaign_render(page=page), range(render_runs))

    # (b) Per recipient: subscriptions loaded up front with their subscriber, as a send batch would claim them.
    subscriptions = list(
        Subscription.objects.select_related("subscriber")
        .filter(topic__in=page.topics.all(), status=SubscriptionStatus.ACTIVE)
        .order_by("pk")
    )

    def build(subscription):
        return campaign_message_build(rendered=rendered, to=subscription.subscriber.email, subscription=subscription)

    for subscription in subscriptions[:50]:
        build(subscription)
    with CaptureQueriesContext(connection) as build_queries:
        build_samples = timed(build, subscriptions)
    message_bytes = statistics.mean(len(build(s)) for s in subscriptions[:20])

    # Where the per-recipient time goes: the same steps campaign_message_build takes, one at a time.
    values = [merge_values(rendered=rendered, subscription=s) for s in subscriptions]
    merge_samples = timed(lambda s: merge_values(rendered=rendered, subscription=s), subscriptions)
    # Subject as text; HTML and text straight to quoted-printable (only the merged values are encoded).
    substitute_samples = timed(
        lambda v: (rendered.subject.render(v), rendered.html.render_qp(v), rendered.text.render_qp(v)), values
    )
    # As in campaign_message_build: the header reuses the unsubscribe URL already in the merge values.
    headers_samples = timed(lambda v: list_unsubscribe_headers(url=v["unsubscribe_url"]), values)
    parts = [
        {
            "to": s.subscriber.email,
            "subject": header_safe(rendered.subject.render(v)),
            "text": rendered.text.render_qp(v),
            "html": rendered.html.render_qp(v),
            "headers": list_unsubscribe_headers(url=v["unsubscribe_url"]),
            "sender": rendered.sender,
            "reply_to": rendered.reply_to or None,
        }
        for v, s in zip(values, subscriptions, strict=True)
    ]
    mime_samples = timed(lambda kwargs: message_build(**kwargs), parts)

    ms, us = 1e3, 1e6
    rows = [
        ("render once, warm (ms)", render_runs, render_samples, ms, "< 100 ms"),
        ("personalise + build one message (µs)", len(build_samples), build_samples, us, "< 500 µs"),
        ("  step: merge_values (µs)", len(merge_samples), merge_samples, us, ""),
        ("  step: substitution and encoding (µs)", len(substitute_samples), substitute_samples, us, ""),
        ("  step: List-Unsubscribe headers (µs)", len(headers_samples), headers_samples, us, ""),
        ("  step: MIME headers and assembly (µs)", len(mime_samples), mime_samples, us, ""),
    ]
    print(f"\nCampaign benchmark, {datetime.date.today().isoformat()}, {machine()}")
    print(f"{'what':<46} {'runs':>6} {'median':>9} {'mean':>9} {'p95':>9}  target")
    for name, runs, samples, scale, target in rows:
        print(
            f"{name:<46} {runs:>6} {statistics.median(samples) * scale:>9.1f} {statistics.mean(samples) * scale:>9.1f}"
            f" {percentile(samples, 95) * scale:>9.1f}  {target}"
        )
    print(f"\nfirst render (also creates the image renditions): {first_render * ms:.1f} ms")
    print(f"HTML after inlining: {rendered.html_bytes / 1024:.1f} KB; one message: {message_bytes / 1024:.1f} KB")
    recipients_built = len(build_samples)
    print(f"database queries: {len(render_queries)} per render; {len(build_queries)} for {recipients_built} recipients")
    if build_queries:
        print("WARNING: personalisation queries the database per recipient:")
        for query in build_queries.captured_queries[:3]:
            print("   ", query["sql"][:160])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--render-runs", type=int, default=100, help="timed renders (default 100)")
    parser.add_argument("--recipients", type=int, default=5000, help="recipients to personalise (default 5000)")
    args = parser.parse_args()
    var = ROOT / "var"
    var.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=var) as workdir:
        django_setup(Path(workdir))
        try:
            run(render_runs=args.render_runs, recipients=args.recipients)
        finally:
            from django.db import connections

            connections.close_all()
            _bench_cache_clear()


if __name__ == "__main__":
    main()
