"""Importing 10,000 subscribers in Chromium: upload a CSV file, check the guessed columns, run the dry run, import,
and watch the progress bar, with a real Celery worker doing the work (admin request -> Redis -> worker)."""

import re

import pytest
from playwright.sync_api import expect

from subscribers.models import ConsentEvent, SubscriberImport, Subscription, SubscriptionStatus
from tests.browser.conftest import BAR_FULL, SCREENSHOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROWS = 10_000



@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "larkspur-fair-signups.csv"
    with open(path, "w", encoding="utf-8") as out:
        out.write("E-mail address,First name,Where they signed up,Consent date,Consent wording\n")
        for n in range(ROWS):
            out.write(
                f"visitor{n}@fair.example,Visitor {n},Spring fair stand,2026-04-18,Send me Larkspur & Lune news\n"
            )
        out.write('=HYPERLINK("http://evil.example"),Mallory,Spring fair stand,2026-04-18,Yes\n')
    return path


def test_staff_import_ten_thousand_subscribers_with_a_dry_run_and_a_progress_bar(
    admin_page, site_url, settings, tmp_path, celery_worker, big_file, screenshot
):
    settings.IMPORT_FILE_ROOT = tmp_path / "imports"
    page = admin_page

    # When staff open Import subscribers from the menu and upload the file
    page.get_by_role("link", name="Import subscribers").click()
    expect(page).to_have_url(f"{site_url}/admin/subscriber-imports/")
    expect(page.get_by_text("The size limit is 256 MiB")).to_be_visible()
    screenshot(page, "80-import-upload", reload=True)
    page.locator("input[type=file]").set_input_files(str(big_file))
    page.get_by_role("button", name="Upload and choose the columns").click()

    # Then the columns are guessed from the header row
    expect(page).to_have_url(re.compile(rf"{re.escape(site_url)}/admin/subscriber-imports/\d+/columns/$"))
    expect(page.get_by_label("Email address")).to_have_value("E-mail address")
    expect(page.get_by_label("First name")).to_have_value("First name")
    expect(page.get_by_label("Consent date")).to_have_value("Consent date")
    expect(page.get_by_label("Consent wording")).to_have_value("Consent wording")
    expect(page.get_by_label("Topic for the whole file")).to_have_value(re.compile(r"\d+"))
    screenshot(page, "81-import-columns", reload=True)
    page.get_by_label("Consent source", exact=True).select_option("Where they signed up")

    # When they run the dry run without skipping bad rows, the formula row stops the import and says where
    page.get_by_role("button", name="Dry run: check the file").click()
    expect(page.get_by_role("heading", name="Dry run: what the import would do")).to_be_visible(timeout=60_000)
    expect(page.locator("[data-report=rows]")).to_have_text(f"{ROWS + 1:,}")
    expect(page.locator("[data-import-errors]")).to_contain_text(str(ROWS + 2))
    expect(page.locator("[data-import-errors]")).to_contain_text("formula")
    expect(page.locator("[data-import-start]")).to_have_count(0)
    assert not Subscription.objects.exists()

    # When they go back, tick "Skip bad rows" and check again
    page.get_by_role("link", name="Change the columns").click()
    expect(page.get_by_label("Consent source", exact=True)).to_have_value("Where they signed up")
    page.get_by_label("Skip bad rows").check()
    page.get_by_role("button", name="Dry run: check the file").click()
    expect(page.locator("[data-report=subscriptions_created]")).to_have_text(f"{ROWS:,}", timeout=60_000)
    expect(page.locator("[data-report=error_rows]")).to_have_text("1")
    screenshot(page, "82-import-dry-run", reload=True)
    assert not Subscription.objects.exists(), "the dry run changes nothing"

    # When they import, the progress page polls its JSON view and the bar fills without a reload
    page.get_by_role("button", name=f"Import {ROWS:,} subscriptions").click()
    expect(page.get_by_role("heading", name="Importing")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "83-import-progress-desktop.png"), full_page=True)
    # The worker reads 10,000 rows in about a second, so the bar may be caught before it starts or after
    # it ends; the page must reach the result on its own (it polls, then reloads once when the run ends).
    expect(page.get_by_role("heading", name="Result")).to_be_visible(timeout=120_000)
    page.wait_for_function(BAR_FULL)  # the bar drawn full
    expect(page.locator("[data-report=subscriptions_created]")).to_have_text(f"{ROWS:,}")
    expect(page.locator("[data-report=consent_events]")).to_have_text(f"{ROWS:,}")
    screenshot(page, "84-import-result", reload=True)

    # Then 10,000 active subscriptions exist, each with its consent event, and the worker did the work
    assert Subscription.objects.filter(status=SubscriptionStatus.ACTIVE).count() == ROWS
    assert ConsentEvent.objects.filter(action="imported", source="import").count() == ROWS
    job = SubscriberImport.objects.get()
    assert (job.status, job.stored_name) == ("done", "")
    assert ("subscribers.tasks.subscriber_import_task", False) in celery_worker.tasks_run

    # And the list of imports shows it
    page.get_by_role("link", name="All imports").click()
    expect(page.locator(f"[data-import='{job.pk}']")).to_contain_text(f"{ROWS:,}")
