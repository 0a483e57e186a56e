"""``make demo``: run the whole platform on the embedded defaults, seeded with demo data.

Starts the local SES endpoint, migrates, seeds, then runs the web server, Celery beat and Celery workers by
role in the shape docs/operations.md recommends for one machine, until Ctrl-C, which stops them all.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB_PORT = int(os.environ.get("DEMO_PORT", "8000"))
SES_PORT = int(os.environ.get("DEMO_SES_PORT", "8025"))
PYTHON = sys.executable
BIN = Path(PYTHON).parent
# The recommended shape on a two-core machine (docs/operations.md, "Workers and beat"): sends have processes of
# their own, so a confirmation email or a bounce never waits behind a campaign, and so does "default", so an
# import never does either; outgoing webhooks have theirs, so a slow receiver delays nothing else; automations have
# two of theirs, so a welcome email is taken when it falls due even while a campaign is being sent, and a crowd of
# runs due at once is worked by two.
# (node name, queues, processes)
WORKERS = (
    ("sends", "sends", 2),
    ("mail", "transactional,feedback", 1),
    ("default", "default", 1),
    ("webhooks", "webhooks", 1),
    ("automations", "automations", 2),
)
# The wait between two emails of the demo's welcome series: minutes, not the days a shop would choose, so that the
# whole series can be watched arriving in the outbox.
AUTOMATION_WAIT_SECONDS = int(os.environ.get("DEMO_AUTOMATION_WAIT_SECONDS", "120"))


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback URL built here
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _wait_for(url: str, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _answers(url):
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start at {url} within {seconds:.0f}s.")


def _prepare_local_ses(env: dict) -> None:
    """Verify the sender and create the configuration set, as an operator does once in AWS."""
    os.environ.update(env)
    import django
    from django.conf import settings

    django.setup()
    from newsletter.local_ses import local_ses_prepare

    local_ses_prepare(
        endpoint_url=settings.SES_ENDPOINT_URL,
        region=settings.SES_REGION,
        sender=settings.DEFAULT_FROM_EMAIL,
        configuration_set=settings.SES_CONFIGURATION_SET,
    )


def main() -> None:
    os.chdir(ROOT)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsletter.settings.local",
        "SITE_URL": os.environ.get("SITE_URL", f"http://127.0.0.1:{WEB_PORT}"),
        "SES_ENDPOINT_URL": os.environ.get("SES_ENDPOINT_URL", f"http://127.0.0.1:{SES_PORT}"),
    }
    (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    children: list[subprocess.Popen] = []

    def start(name: str, args: list[str]) -> None:
        log = open(ROOT / "var" / "log" / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        children.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT))  # noqa: S603

    def stop(*_):
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    ses_url = env["SES_ENDPOINT_URL"]
    if not _answers(f"{ses_url}/moto-api/data.json"):
        start("ses", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(SES_PORT)])
        _wait_for(f"{ses_url}/moto-api/data.json", "The local SES endpoint")
    manage = [PYTHON, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True)  # noqa: S603
    _prepare_local_ses(env)
    subprocess.run([*manage, "seed_demo"], env=env, check=True)  # noqa: S603
    subprocess.run([*manage, "seed_campaigns"], env=env, check=True)  # noqa: S603
    subprocess.run([*manage, "seed_audience"], env=env, check=True)  # noqa: S603 - 3,000 to watch a send progress
    subprocess.run([*manage, "seed_segments"], env=env, check=True)  # noqa: S603 - attributes of that audience
    seed_automations = [*manage, "seed_automations", "--wait-seconds", str(AUTOMATION_WAIT_SECONDS)]
    subprocess.run(seed_automations, env=env, check=True)  # noqa: S603 - the welcome series
    for name, queues, processes in WORKERS:
        start(
            f"worker-{name}",
            [
                str(BIN / "celery"),
                "-A",
                "newsletter",
                "worker",
                "--loglevel",
                "INFO",
                "--queues",
                queues,
                "--concurrency",
                str(processes),
                "--hostname",
                f"{name}@%h",
            ],
        )
    start(
        "beat",
        [
            str(BIN / "celery"),
            "-A",
            "newsletter",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(ROOT / "var" / "celerybeat-schedule"),
        ],
    )
    start("web", [*manage, "runserver", "--noreload", f"127.0.0.1:{WEB_PORT}"])
    site = env["SITE_URL"]
    _wait_for(f"{site}/healthz/", "The web server", seconds=60)
    print(
        f"""
The demo is running. Open:
  Shop                    {site}/
  Account Home            {site}/account/    (customer: ada@customer.example / demo-customer-pass)
  Register                {site}/accounts/register/
  Newsletter signup       {site}/newsletter/subscribe/
  Wagtail admin           {site}/admin/      (staff: admin@larkspur-lune.example / demo-admin-pass)
  Outbox (emails sent)    {site}/outbox/     (staff only)
  Automations             {site}/admin/automations/   (a welcome series: sign up, confirm, and watch the
                          outbox: one email at once, then one every {AUTOMATION_WAIT_SECONDS} s)
  Health                  {site}/healthz/
Logs are in var/log/. Press Ctrl-C to stop everything.
""",
        flush=True,
    )
    while True:
        for child in children:
            if child.poll() is not None:
                print(f"{' '.join(map(str, child.args[:4]))} stopped (exit {child.returncode}); see var/log/.")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
