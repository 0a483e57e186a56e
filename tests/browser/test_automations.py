"""The welcome series end to end, in Chromium, with real Celery workers in the production shape and beat.

A customer signs up on the public form and confirms from the email; the confirmation enters them in the demo's
welcome series; the first email arrives at once (web request -> Redis -> the automations worker -> boto3 -> the
local SES endpoint) and the second after the series' wait, which beat notices (its tick every 2 s here, 15 s by
default). Staff watch it
from the automation's page: where the person is, and the first email's results behind the privacy floor.
"""

import re
import signal
import subprocess
import sys
import time
from contextlib import suppress

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from automations.demo_content import welcome_series
from automations.models import AutomationRun, RunState
from tests.browser.conftest import DESKTOP
from tests.celery_workers import ROOT, worker_environment

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

READER = "rhea.okafor@mail.example"
CONFIRM_LINK = re.compile(r"https?://\S+/newsletter/confirm/[^/\s]+/")
# The series' wait in this test: long enough to see that it is kept, short enough to wait for.
WAIT_SECONDS = 10
# Beat looks for due runs this often (AUTOMATION_TICK_SECONDS); a worker then takes the step.
BEAT_TICK_SECONDS = 2


@pytest.fixture
def production_workers(worker_processes):
    """The recommended shape of docs/operations.md: sends, automations, mail (transactional and feedback), default
    and webhooks each on workers of their own, with the processes it gives them."""
    for name, queues, processes in (
        ("sends", ("sends",), 2),
        ("automations", ("automations",), 2),
        ("mail", ("transactional", "feedback"), 1),
        ("default", ("default",), 1),
        ("webhooks", ("webhooks",), 1),
    ):
        worker_processes.start(name=name, queues=queues, concurrency=processes)
    worker_processes.wait_ready()
    return worker_processes


@pytest.fixture
def beat(production_workers, tmp_path):
    """``celery beat`` on this test's database and Redis, as an operator runs it; stopped when the test ends."""
    log_path = tmp_path / "beat.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "newsletter",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(tmp_path / "celerybeat-schedule"),
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=worker_environment({"AUTOMATION_TICK_SECONDS": str(BEAT_TICK_SECONDS)}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=10)
        print(f"----- log of beat -----\n{log_path.read_text(errors='replace')[-10000:]}")


def _run_at(automation, address: str, *, position: int, timeout: float = 15) -> AutomationRun:
    """The person's run once it has reached ``position``; fails after a bounded time."""
    deadline = time.monotonic() + timeout
    while True:
        run = AutomationRun.objects.filter(automation=automation, subscriber__email=address).first()
        if run is not None and run.position >= position:
            return run
        assert time.monotonic() < deadline, f"the run is at {run and run.position}, expected {position}"
        time.sleep(0.2)


def test_a_confirmed_subscriber_gets_the_first_welcome_email_at_once_and_the_next_after_the_wait(
    chromium, admin_page, site_url, beat, email_wait, outbox, screenshot
):
    # Given the demo's welcome series with a short wait between its emails
    automation = welcome_series(wait_seconds=WAIT_SECONDS)
    staff = admin_page

    # And staff who see it active on the Automations list, nobody in it yet
    staff.get_by_role("link", name="Automations").click()
    row = staff.locator(f"[data-automation='{automation.pk}']")
    expect(row.locator("[data-state='active']")).to_be_visible()
    expect(row.locator("[data-count='active']")).to_have_text("0")

    # When a customer signs up on the public form
    context = chromium.new_context(viewport=DESKTOP, base_url=site_url, locale="en-GB")
    context.set_default_timeout(15_000)
    customer = context.new_page()
    customer.goto("/newsletter/subscribe/")
    customer.get_by_label("Email address").fill(READER)
    customer.get_by_label("First name (optional)").fill("Rhea")
    customer.get_by_role("button", name="Subscribe").click()
    expect(customer.get_by_role("heading", name="Check your inbox")).to_be_visible()

    # And confirms from the email's link
    confirmation = email_wait(READER)
    assert not AutomationRun.objects.exists(), "nobody enters before confirming"
    customer.goto(CONFIRM_LINK.search(confirmation.text).group(0))
    expect(customer.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    customer.locator("main").get_by_role("button").click()
    expect(customer.get_by_role("heading", name="Thank you, you are subscribed")).to_be_visible()
    confirmed_at = time.monotonic()

    # Then the first welcome email arrives at once, personalised, with its unsubscribe link
    first = email_wait(READER, count=2)
    first_at = time.monotonic()
    assert first.subject == "Welcome to Larkspur & Lune, Rhea"
    assert "Welcome to the workshop" in first.html and "Dear Rhea," in first.text
    assert "/newsletter/unsubscribe/" in first.text
    # (the worker records the step a moment after SES accepted the message: the ledger first, the run with it)
    run = _run_at(automation, READER, position=3)  # past the wait's start, due after it
    assert run.state == RunState.ACTIVE and run.due_at > timezone.now()

    # And staff see the person waiting at the wait, and the first email's results behind the privacy floor
    staff.goto(f"/admin/automations/{automation.pk}/")
    steps = staff.locator("[data-step]")
    expect(steps.nth(2).locator("[data-step-people]")).to_contain_text("1")
    expect(steps.nth(0).locator("[data-result='sent']")).to_have_text("<5")
    expect(steps.nth(0).locator("[data-step-locked]")).to_contain_text("1 person has reached or passed it")
    expect(steps.nth(4).locator("[data-email-results-none]")).to_be_visible()
    screenshot(staff, "A5-automation-one-person-in", reload=True)

    # And the second has not come before the wait is over (when the checks above ended inside it)
    if time.monotonic() - first_at < WAIT_SECONDS - 1:
        assert len(outbox.to(READER)) == 2

    # Then the second arrives after the wait, once beat has noticed it is due
    second = email_wait(READER, count=3, timeout=WAIT_SECONDS + BEAT_TICK_SECONDS + 45)
    second_at = time.monotonic()
    assert second.subject == "Rhea, how we choose our stones"
    assert "Stones we would wear ourselves" in second.html
    assert second_at - first_at >= WAIT_SECONDS - 2, "the wait was not kept"
    assert first_at - confirmed_at < 30

    # And its HTML, shown in the browser, reads as written (on a blank page: the site's pages forbid inline styles,
    # which an email needs)
    customer.goto("about:blank")
    customer.set_content(second.html)
    expect(customer.get_by_role("heading", name="Stones we would wear ourselves")).to_be_visible()
    expect(customer.get_by_role("link", name="See this season's stones")).to_be_visible()
    screenshot(customer, "A6-welcome-email-2")
    context.close()
