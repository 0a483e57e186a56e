"""A partner export in Chromium: a staff member with the export permission chooses a partner and a topic, sees
who will be in the file and who is left out and why, downloads it, and finds it in the disclosure log with the
SHA-256 of exactly the bytes downloaded."""

import csv
import hashlib
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from subscribers.models import ConsentSource, Disclosure, LawfulBasis, Partner, Topic, User
from subscribers.services import subscription_give, subscription_withdraw, third_party_objection_set
from subscribers.wording import PUBLIC_SIGNUP
from tests.browser.conftest import admin_login
from tests.factories import ConfirmedSubscriberFactory, SubscriptionFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

EXPORTER_EMAIL = "partnerships@larkspur-lune.example"
PASSWORD = "bezel-setting-claw-2291"


def subscribed(email: str, first_name: str):
    subscriber = ConfirmedSubscriberFactory(email=email, first_name=first_name)
    general = Topic.objects.get(is_default=True)
    return subscription_give(
        subscriber=subscriber, topic=general, source=ConsentSource.PUBLIC_FORM, wording=PUBLIC_SIGNUP
    )


@pytest.fixture
def exporter_page(page, site_url):
    """A staff user who may enter the admin and export to partners (which also shows the log), logged in."""
    user = User.objects.create_user(email=EXPORTER_EMAIL, password=PASSWORD, first_name="Pia", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"),
        Permission.objects.get(content_type__app_label="subscribers", codename="export_to_partner"),
    )
    return admin_login(page, site_url, EXPORTER_EMAIL, PASSWORD)


def test_staff_export_a_topic_to_a_partner_and_find_it_logged_with_the_checksum_of_the_download(
    exporter_page, site_url, screenshot, tmp_path
):
    # Given a partner, three people who may be shared, one objector, one unsubscribed and one soft opt-in
    Partner.objects.create(
        name="Fernhollow Engraving Co.",
        purpose="Offers of engraving and gift wrapping for jewellery bought from us",
        contract_reference="LL-DSA-2026-01",
    )
    for email, name in (("iris@mail.example", "Iris"), ("jun@mail.example", "Jun"), ("kofi@mail.example", "Kofi")):
        subscribed(email, name)
    objector = subscribed("olga@mail.example", "Olga").subscriber
    third_party_objection_set(subscriber=objector, objects=True, source=ConsentSource.ACCOUNT_PAGE)
    subscription_withdraw(subscription=subscribed("uma@mail.example", "Uma"), source=ConsentSource.EMAIL_LINK)
    SubscriptionFactory(subscriber__email="sol@mail.example", lawful_basis=LawfulBasis.SOFT_OPT_IN)
    page = exporter_page
    page.reload()

    # When they open Disclosures > New partner export from the menu and choose the partner and the topic
    page.get_by_role("button", name="Disclosures").click()
    page.get_by_role("link", name="New partner export").click()
    expect(page).to_have_url(f"{site_url}/admin/disclosures/partner-export/")
    page.get_by_label("Partner").select_option(label="Fernhollow Engraving Co.")
    page.get_by_label("Topic").select_option(label="General Subscription")
    screenshot(page, "70-admin-partner-export-choose")
    page.get_by_role("button", name="Continue").click()

    # Then the confirmation says how many are in it, and who is left out and why
    expect(page.locator("[data-included]")).to_have_text("3")
    left_out = page.locator("[data-left-out]")
    expect(left_out.locator("[data-reason=objected] td")).to_have_text("1")
    expect(left_out.locator("[data-reason=not_active] td")).to_have_text("1")
    expect(left_out.locator("[data-reason=soft_opt_in] td")).to_have_text("1")
    expect(left_out.locator("[data-reason=suppressed] td")).to_have_text("0")
    expect(page.locator("[data-left-out-total]")).to_have_text("3")
    assert not Disclosure.objects.exists(), "seeing the counts shares nothing"
    screenshot(page, "71-admin-partner-export-confirm", reload=True)

    # When they export, the CSV downloads
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export 3 people as CSV").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = Path(saved).read_bytes()
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [row["email"] for row in rows] == ["iris@mail.example", "jun@mail.example", "kofi@mail.example"]
    assert download.suggested_filename.startswith("fernhollow-engraving-co-general")

    # And the disclosure log lists it; its page gives the SHA-256 of exactly those bytes
    disclosure = Disclosure.objects.get()
    page.goto("/admin/disclosures/")
    row = page.locator(f"[data-disclosure='{disclosure.pk}']")
    expect(row).to_contain_text("Fernhollow Engraving Co.")
    expect(row.locator("[data-rows]")).to_have_text("3")
    expect(row).to_contain_text(EXPORTER_EMAIL)
    screenshot(page, "72-admin-disclosures", reload=True)
    row.get_by_role("link").click()
    expect(page.locator("[data-checksum]")).to_have_text(hashlib.sha256(data).hexdigest())
    expect(page.locator("[data-made-by]")).to_have_text(EXPORTER_EMAIL)
    expect(page.locator("[data-rows]")).to_have_text("3")
    screenshot(page, "73-admin-disclosure", reload=True)
