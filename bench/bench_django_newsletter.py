"""Benchmark: our sending pipeline beside django-newsletter + django-ses, same audience, same SES endpoint.

Run with ``.venv/bin/python bench/bench_django_newsletter.py [--recipients N] [--port P]``. Loopback only;
PyPI is needed the first time, to build the other system's virtualenv.

What it does, in one run:

1. Builds (once; reused while its requirements are unchanged) a virtualenv of its own under
   ``var/bench/django-newsletter-venv`` with django-newsletter 1.2.1, django-ses, the newest Django that
   django-newsletter 1.2.1 declares support for (5.2), sorl-thumbnail (its default thumbnailer) and the same
   boto3/botocore versions as ours, and prints every installed version.
2. Writes a minimal Django project for it in a temporary directory under ``var/bench/`` (a throwaway SQLite
   database, whatever DATABASE_URL says: its tables must not meet ours), with ``django_ses.SESBackend`` pointed
   at ``bench/fast_ses.py`` on 127.0.0.1 through the SES v1 API, django-ses's defaults otherwise (auto-throttle
   on; the endpoint's send quota is too high for it to wait). Then, twice, in a fresh process and database
   each: migrate, create a newsletter, N subscriptions (bulk), a message of a few articles and its submission
   (``Submission.from_message``, then marked prepared as the admin's "submit" button does), and time the
   ``submit_newsletter`` management command (what its docs run from cron) from its call until it returns.
   The first run sets NEWSLETTER_EMAIL_DELAY and NEWSLETTER_BATCH_DELAY to 0 (NEWSLETTER_BATCH_SIZE 100);
   the second leaves all three unset, which is its default and means no sleeping at all. Should the first
   run's rate put the second beyond 10 minutes, the second sends to 1,000 subscribers instead, and the output
   says so. The messages the endpoint received are counted and must equal the subscribers.
3. Runs ``bench/bench_send.py --recipients N --json`` (our pipeline, its own endpoint on the next port, with
   DATABASE_URL/REDIS_URL when set) and reads the JSON object on its last line: ``pipeline_end_to_end_rate``
   (start of the send to its end, like the figure above) when present, and ``pipeline_rate``.
4. Prints subscribers, wall seconds, messages per second and the ratios ours / django-newsletter.
"""

import argparse
import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = ROOT / "var" / "bench"
VENV = BENCH_VAR / "django-newsletter-venv"
REQUIREMENTS = [
    "django-newsletter==1.2.1",
    "django-ses==4.8.2",
    "Django~=5.2.0",  # django-newsletter 1.2.1 classifiers: Django 4.2 and 5.2
    "sorl-thumbnail",  # django-newsletter needs a thumbnailer installed; sorl-thumbnail is its default
    # The same AWS SDK as ours, so the SDK's own cost is not a difference between the two.
    f"boto3=={importlib.metadata.version('boto3')}",
    f"botocore=={importlib.metadata.version('botocore')}",
]
# A default-delay run expected to take longer than this is measured on SHORT_RUN_SUBSCRIBERS instead.
LONG_RUN_SECONDS, SHORT_RUN_SUBSCRIBERS = 600, 1000
# The delays as django-newsletter's settings documentation shows them for illustration; never set by default.
DOC_EMAIL_DELAY, DOC_BATCH_DELAY, DOC_BATCH_SIZE = 0.1, 60, 100

SETTINGS = """\
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
SITE_ID = 1
ROOT_URLCONF = "bench_urls"
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["BENCH_DB"]}}}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.sites",
    "sorl.thumbnail",
    "newsletter",
]
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}}]
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.path.join(BASE_DIR, "media")
NEWSLETTER_THUMBNAIL = "sorl-thumbnail"
NEWSLETTER_USE_HTTPS = True
NEWSLETTER_CONFIRM_EMAIL = False

EMAIL_BACKEND = "django_ses.SESBackend"
AWS_ACCESS_KEY_ID = "bench"
AWS_SECRET_ACCESS_KEY = "bench"
AWS_SES_REGION_NAME = "eu-west-1"
AWS_SES_REGION_ENDPOINT_URL = "{endpoint}"

if os.environ["BENCH_DELAYS"] == "zero":
    NEWSLETTER_EMAIL_DELAY = 0
    NEWSLETTER_BATCH_DELAY = 0
    NEWSLETTER_BATCH_SIZE = {batch_size}
"""

URLS = """\
from django.urls import include, path

urlpatterns = [path("newsletter/", include("newsletter.urls"))]
"""

# Runs inside the other virtualenv; prints one JSON object as its last line.
RUNNER = """\
import datetime
import json
import sys
import time

import django

django.setup()
from django.contrib.sites.models import Site
from django.core.management import call_command
from django.utils import timezone
from newsletter.models import Article, Message, Newsletter, Submission, Subscription

subscribers = int(sys.argv[1])
call_command("migrate", verbosity=0)
Site.objects.filter(pk=1).update(domain="news.larkspur-lune.example", name="Larkspur & Lune")
newsletter = Newsletter.objects.create(
    title="Larkspur & Lune", slug="weekly", email="news@larkspur-lune.example", sender="Larkspur & Lune"
)
now = timezone.now()
for start in range(0, subscribers, 5000):
    Subscription.objects.bulk_create(
        Subscription(
            newsletter=newsletter, email_field=f"bench{n}@mail.example", name_field="Reader",
            subscribed=True, subscribe_date=now,
        )
        for n in range(start, min(start + 5000, subscribers))
    )
message = Message.objects.create(title="Winter collection", slug="winter", newsletter=newsletter)
paragraph = "<p>" + "Wool, linen and a little light for the darker months. " * 12 + "</p>"
for n in range(1, 5):
    Article.objects.create(
        post=message, title=f"Story {n}", text=paragraph * 2, url=f"https://larkspur-lune.example/{n}"
    )
started = time.perf_counter()
submission = Submission.from_message(message)
submission.prepared = True
submission.publish_date = now - datetime.timedelta(minutes=1)
submission.save()
prepare_seconds = time.perf_counter() - started

started = time.perf_counter()
call_command("submit_newsletter", verbosity=0)
seconds = time.perf_counter() - started

submission.refresh_from_db()
one = submission.get_message(Subscription.objects.first()).message().as_bytes()
print(json.dumps({
    "seconds": seconds, "prepare_seconds": prepare_seconds, "subscribers": subscribers,
    "sent": submission.sent, "message_bytes": len(one),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000, help="subscribers for each system (default 10000)")
    parser.add_argument(
        "--port", type=int, default=8768, help="the endpoint for django-newsletter; ours gets the next (default 8768)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes for our pipeline (default 2)")
    parser.add_argument(
        "--send-script", default=str(ROOT / "bench" / "bench_send.py"), help="our benchmark (bench/bench_send.py)"
    )
    args = parser.parse_args()
    for port in (args.port, args.port + 1):
        if not port_free(port):
            sys.exit(f"port {port} is in use on 127.0.0.1: pick another with --port")

    started = time.perf_counter()
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    versions = venv_ensure()
    print(f"  virtualenv ready in {time.perf_counter() - started:.0f} s", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="django-newsletter-", dir=BENCH_VAR))
    try:
        zero = their_run(args, workdir, delays="zero", subscribers=args.recipients)
        # Unset delays sleep no more than zero ones, so the zero run's rate says how long the default run will take.
        subscribers = args.recipients
        if args.recipients / zero["rate"] > LONG_RUN_SECONDS:
            subscribers = min(args.recipients, SHORT_RUN_SUBSCRIBERS)
        default = their_run(args, workdir, delays="default", subscribers=subscribers)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ours = our_run(args)
    report(args, versions, default, zero, ours, total=time.perf_counter() - started)


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def venv_ensure() -> str:
    """Create the virtualenv and install REQUIREMENTS unless a previous run installed exactly these."""
    python = VENV / "bin" / "python"
    marker = VENV / "bench-requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        print(f"Reusing {VENV.relative_to(ROOT)}", flush=True)
    else:
        print(f"Creating {VENV.relative_to(ROOT)} and installing: {' '.join(REQUIREMENTS)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)  # noqa: S603
        pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
        subprocess.run([*pip, "install", *REQUIREMENTS], check=True)  # noqa: S603
        marker.write_text(wanted)
    freeze = subprocess.run(  # noqa: S603
        [str(python), "-m", "pip", "--disable-pip-version-check", "list", "--format=freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return " ".join(sorted(freeze, key=str.lower))


def sent_count(endpoint: str) -> int:
    with urllib.request.urlopen(endpoint, timeout=5) as response:  # noqa: S310 - loopback
        return int(response.read())


def endpoint_start(port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fast_ses.py"), str(port)])  # noqa: S603
    deadline = time.monotonic() + 10
    while True:
        try:
            sent_count(f"http://127.0.0.1:{port}")
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.terminate()
                raise
            time.sleep(0.05)


def their_run(args, workdir: Path, *, delays: str, subscribers: int) -> dict:
    """One django-newsletter measurement in a fresh process and database, against a fresh endpoint."""
    endpoint = f"http://127.0.0.1:{args.port}"
    project = workdir / "project"
    project.mkdir(exist_ok=True)
    (project / "bench_settings.py").write_text(SETTINGS.format(endpoint=endpoint, batch_size=DOC_BATCH_SIZE))
    (project / "bench_urls.py").write_text(URLS)
    (project / "bench_run.py").write_text(RUNNER)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(workdir)),
        "PYTHONPATH": str(project),
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "BENCH_DB": str(workdir / f"{delays}.sqlite3"),
        "BENCH_DELAYS": delays,
    }
    print(f"django-newsletter, {delays} delays: {subscribers} subscribers", flush=True)
    server = endpoint_start(args.port)
    try:
        before = sent_count(endpoint)
        child = subprocess.run(  # noqa: S603
            [str(VENV / "bin" / "python"), str(project / "bench_run.py"), str(subscribers)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=3 * 3600,
        )
        delivered = sent_count(endpoint) - before
    finally:
        server.terminate()
        server.wait()
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        sys.exit(f"django-newsletter run failed (exit {child.returncode})")
    result = last_json_line(child.stdout)
    result["delivered"] = delivered
    result["rate"] = delivered / result["seconds"]
    assert result["sent"], "django-newsletter did not mark the submission sent"
    assert delivered == subscribers, f"the endpoint received {delivered} messages, not {subscribers}"
    print(f"  {delivered} sent in {result['seconds']:.1f} s: {result['rate']:.1f} messages/s", flush=True)
    return result


def our_run(args) -> dict:
    command = [
        sys.executable,
        args.send_script,
        "--recipients",
        str(args.recipients),
        "--workers",
        str(args.workers),
        "--port",
        str(args.port + 1),
        "--json",
    ]
    print(f"ours: {' '.join(Path(c).name if '/' in c else c for c in command)}", flush=True)
    child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3 * 3600)  # noqa: S603
    sys.stdout.write(textwrap.indent(child.stdout, "  | "))
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        if "--json" in child.stderr and "unrecognized" in child.stderr:
            sys.exit("bench_send.py does not accept --json yet")
        sys.exit(f"our benchmark failed (exit {child.returncode})")
    result = last_json_line(child.stdout)
    assert result["recipients"] == args.recipients, f"bench_send.py sent to {result['recipients']} recipients"
    # End to end, when bench_send.py reports it, is what django-newsletter's figure is: start to return.
    result["rate"] = result.get("pipeline_end_to_end_rate") or result["pipeline_rate"]
    result["seconds"] = result["recipients"] / result["rate"]
    return result


def last_json_line(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("no output")
    return json.loads(lines[-1])


def report(args, versions: str, default: dict, zero: dict, ours: dict, *, total: float) -> None:
    database = ours.get("database") or os.environ.get("DATABASE_URL", "sqlite").split(":")[0]
    rate, sustained = ours["rate"], ours["pipeline_rate"]
    print(f"\ndjango-newsletter environment: {versions}")
    print(
        f"\nSending to {args.recipients} subscribers through fast_ses.py on 127.0.0.1. django-newsletter: "
        f"submit_newsletter, one process, django-ses (SES v1 SendRawEmail); ours: {args.workers} workers, SES v2."
    )
    print(f"database: django-newsletter sqlite (throwaway file); ours {database}")
    header = f"{'system':<44} {'subscribers':>11} {'wall s':>8} {'messages/s':>11}"
    print(f"{header} {'ours / it':>10} {'sustained':>10}")
    for label, run in (("default delays (unset)", default), ("delays set to 0", zero)):
        name = f"django-newsletter, {label}"
        ratios = f"{rate / run['rate']:>9.1f}x {sustained / run['rate']:>9.1f}x"
        print(f"{name:<44} {run['delivered']:>11} {run['seconds']:>8.1f} {run['rate']:>11.1f} {ratios}")
    name = f"ours (bench_send.py, {args.workers} workers)"
    print(f"{name:<44} {ours['recipients']:>11} {ours['seconds']:>8.1f} {rate:>11.1f}")
    print(
        "ours / it: our end-to-end rate over theirs; sustained: our pipeline_rate (10% to 90% of the messages) "
        "over theirs."
    )
    if default["delivered"] != args.recipients:
        print(
            f"\nNOTE: the default-delay run sent to {default['delivered']} subscribers, not {args.recipients}: at the "
            f"zero-delay run's rate {args.recipients} would take {args.recipients / zero['rate'] / 60:.0f} minutes. "
            "Its defaults leave the delays unset, which means no sleeping (newsletter/models.py, Submission.submit), "
            "so both runs take the same path, one message at a time."
        )
    print(
        f"\ndjango-newsletter wall s: the submit_newsletter command alone; creating the submission and its "
        f"{args.recipients} recipient rows (Submission.from_message) took {zero['prepare_seconds']:.1f} s more. "
        f"One of its messages is {zero['message_bytes'] / 1024:.1f} KB."
    )
    print(
        "ours wall s: recipients / end-to-end rate, from send_start (audience snapshot, render) to the last row final, "
        "with workers started and warm beforehand."
    )
    sleep = args.recipients * DOC_EMAIL_DELAY + args.recipients // DOC_BATCH_SIZE * DOC_BATCH_DELAY
    print(
        f"Not measured: the delays its settings docs show as an example ({DOC_EMAIL_DELAY} s per email, "
        f"{DOC_BATCH_DELAY} s every {DOC_BATCH_SIZE}) would add {sleep:.0f} s of sleep for {args.recipients}."
    )
    print(f"whole benchmark: {total:.0f} s")


if __name__ == "__main__":
    main()
