"""A privacy officer adds a webhook endpoint in Settings > Webhooks, sees its secret once, watches a failing
delivery's attempts and sends it again, at desktop and phone widths."""

import pytest
from playwright.sync_api import expect

from subscribers.services import subscriber_get_or_create
from tests.factories import PRIVACY_OFFICERS, staff_in_role
from tests.webhooks.receiver import Receiver
from webhooks.delivery import webhook_deliveries_run
from webhooks.models import WebhookDelivery, WebhookEndpoint

from .conftest import STAFF_PASSWORD, admin_login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def receiver():
    started = Receiver(plan=lambda n: (500, 0) if n == 0 else (200, 0)).start()
    yield started
    started.stop()


def test_an_officer_adds_an_endpoint_sees_the_secret_once_and_sends_a_failed_delivery_again(
    page, site_url, screenshot, receiver, settings
):
    # Given a privacy officer, logged in
    officer = staff_in_role(PRIVACY_OFFICERS, "officer@larkspur-lune.example")
    officer.set_password(STAFF_PASSWORD)
    officer.save()
    admin_login(page, site_url, officer.email)

    # When they add an endpoint from Settings > Webhooks
    page.goto("/admin/webhooks/")
    screenshot(page, "80-webhooks-empty", reload=True)
    page.get_by_role("link", name="Add an endpoint").click()
    page.get_by_label("Name").fill("Shop CRM")
    page.get_by_label("URL").fill("ftp://crm.example/in")
    page.get_by_label("subscriber.created", exact=False).check()
    page.get_by_role("button", name="Save").click()
    # a bad URL is refused, naming the field, and nothing is saved
    expect(page.get_by_text("The URL must start with https://")).to_be_visible()
    assert not WebhookEndpoint.objects.exists()
    screenshot(page, "81-webhooks-form-error")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_role("button", name="Save").click()

    # Then the secret is shown once, with a warning
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    secret = page.locator("[data-secret]").inner_text().strip()
    endpoint = WebhookEndpoint.objects.get()
    assert secret == endpoint.secret and secret.startswith("whsec_")
    screenshot(page, "82-webhooks-secret")
    receiver.secrets.append(secret)

    # And after a delivery fails (one attempt allowed; the task runs inline after commit), its attempts and the
    # receiver's answer are shown
    settings.WEBHOOK_RETRY_SCHEDULE = []
    subscriber_get_or_create(email="ada@mail.example")
    delivery = WebhookDelivery.objects.get()
    page.goto(f"/admin/webhooks/{endpoint.pk}/?state=failed")
    expect(page.locator(f"[data-delivery='{delivery.pk}']")).to_contain_text("Failed")
    screenshot(page, "83-webhooks-endpoint", reload=True)
    page.locator(f"[data-delivery='{delivery.pk}'] a").click()
    expect(page.locator("[data-attempts]")).to_contain_text("HTTP 500")
    expect(page.locator("[data-attempts]")).to_contain_text('"status": 500')
    screenshot(page, "84-webhooks-delivery", reload=True)

    # And "Send again" makes a new attempt, which the receiver accepts and verifies
    page.get_by_role("button", name="Send again").click()
    expect(page.get_by_text("Sent again: a new attempt is on its way.")).to_be_visible()
    webhook_deliveries_run()
    page.reload()
    expect(page.locator("[data-attempts]")).to_contain_text("HTTP 200")
    assert [r.verified_with for r in receiver.requests] == [[0], [0]]

    # And the list shows the endpoint, enabled, with its last success
    page.goto("/admin/webhooks/")
    row = page.locator(f"[data-endpoint='{endpoint.pk}']")
    expect(row).to_contain_text("Shop CRM")
    expect(row).not_to_contain_text("Never")
    screenshot(page, "85-webhooks-list", reload=True)
