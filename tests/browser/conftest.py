"""Fixtures for the browser tests: real Chromium through Playwright, the live server, a real Celery worker.

Playwright's own browser download is not used: the tests launch the Chromium already installed on the machine
(CHROMIUM_PATH, default /usr/bin/chromium) and skip, saying so, when there is none.
"""

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}  # the narrowest common phone
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
EMAIL_TIMEOUT_SECONDS = 30
# For page.wait_for_function: the progress bar (an import's, a send's) is drawn full. Its width is a class when
# the page is drawn and a style the script sets while it polls; what counts is the width on screen.
BAR_FULL = (
    "() => { const f = document.querySelector('[data-progress-fill]'); "
    "return f && f.getBoundingClientRect().width >= f.parentElement.getBoundingClientRect().width - 1; }"
)


def chromium_executable() -> str | None:
    """The Chromium to drive: CHROMIUM_PATH, else /usr/bin/chromium; None when it is not an executable."""
    candidate = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    resolved = candidate if os.path.isabs(candidate) else shutil.which(candidate)
    if resolved and os.path.isfile(resolved) and os.access(resolved, os.X_OK):
        return resolved
    return None


@pytest.fixture(scope="package")
def chromium(django_db_setup):
    """One headless Chromium for all the browser tests (package scope: it closes when they are done).

    Playwright's sync API keeps an asyncio loop running in this thread while it is open. Two things follow:

    - Django refuses ORM calls from a thread with a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE is set (it is
      safe here: the test code is synchronous). It is set only while Chromium is open, so the rest of the suite,
      and the processes it starts, keep Django's protection.
    - Django keeps database connections in an asgiref Local, which stores them apart once a loop is running: the
      tests get new connection objects. pytest-django's serialized rollback reads the database contents it
      saved at setup (the rows migrations create) from the connection object, so they are copied across.
    """
    executable = chromium_executable()
    if executable is None:
        pytest.skip(
            f"No Chromium executable at {os.environ.get('CHROMIUM_PATH', '/usr/bin/chromium')!r}: "
            "install Chromium or set CHROMIUM_PATH to run the browser tests."
        )
    from playwright.sync_api import sync_playwright

    saved = {c.alias: c._test_serialized_contents for c in connections.all() if hasattr(c, "_test_serialized_contents")}
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            for alias, contents in saved.items():
                connections[alias]._test_serialized_contents = contents
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
                connections.close_all()  # the connections opened while the loop ran
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def site_url(live_server, settings) -> str:
    """The live server's address; links built into emails (SITE_URL) point at it for this test."""
    settings.SITE_URL = live_server.url
    settings.WAGTAILADMIN_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def page(chromium, site_url):
    """A fresh browser context (no cookies) at desktop size; every navigation fails loudly after 15 s."""
    context = chromium.new_context(viewport=DESKTOP, base_url=site_url, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot() -> Callable[..., list[Path]]:
    """Save a full-page screenshot of the current page at desktop and phone widths.

    Files go to test-artifacts/screenshots/<name>-desktop.png and <name>-phone.png (git-ignored).
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, reload: bool = False) -> list[Path]:
        # reload=True for pages that lay themselves out once with JavaScript (the Wagtail admin); only for
        # pages reached by GET, since reloading the answer to a POST would send the form again.
        saved = []
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            if reload:
                page.reload()
            path = SCREENSHOTS / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
        page.set_viewport_size(DESKTOP)
        if reload:
            page.reload()
        return saved

    return take


@pytest.fixture
def email_wait(outbox) -> Callable[..., object]:
    """``email_wait(address)`` polls the local SES outbox until a message reached ``address`` and returns
    the newest one; it fails after a bounded time instead of hanging."""

    def wait(address: str, *, count: int = 1, timeout: float = EMAIL_TIMEOUT_SECONDS):
        deadline = time.monotonic() + timeout
        while True:
            messages = outbox.to(address)
            if len(messages) >= count:
                return messages[-1]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(messages)} email(s) reached {address} within {timeout:.0f}s, expected {count}; "
                    f"the outbox has {len(outbox.all())} message(s) in all."
                )
            time.sleep(0.2)

    return wait


STAFF_PASSWORD = "hallmark-assay-office-1773"
EDITOR_EMAIL = "editor@larkspur-lune.example"


def admin_login(page, site_url: str, email: str, password: str = STAFF_PASSWORD):
    """Log in through the Wagtail login form (the email address is the username) and land on the dashboard."""
    from playwright.sync_api import expect

    page.goto("/admin/")
    expect(page).to_have_url(f"{site_url}/admin/login/?next=/admin/")
    page.locator("input[name=username]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site_url}/admin/")
    return page


@pytest.fixture
def admin_page(page, site_url):
    """A superuser, logged in through the Wagtail login form."""
    from subscribers.models import User

    User.objects.create_superuser(email=EDITOR_EMAIL, password=STAFF_PASSWORD, first_name="Edith")
    return admin_login(page, site_url, EDITOR_EMAIL)
