"""An endpoint's deliveries in the admin page by position (subscribers/admin/paging.py), the state filter kept."""

import re
from html import unescape

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db


def listed(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-delivery="(\d+)"', html)]


def link(html: str, which: str) -> str | None:
    match = re.search(r'<a href="([^"]*)"[^>]*data-keyset="' + which + '"', html)
    return unescape(match.group(1)) if match else None


def test_an_endpoints_deliveries_page_older_and_newer_within_a_state(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    endpoint = WebhookEndpoint.objects.create(name="CRM", url="https://crm.example/hook", secret="s" * 40)
    # Given 60 failed deliveries and 10 that succeeded between them
    events = WebhookEvent.objects.bulk_create(WebhookEvent(type="subscriber.created") for _ in range(70))
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            event=event, endpoint=endpoint, state=DeliveryState.SUCCEEDED if n % 7 == 0 else DeliveryState.FAILED
        )
        for n, event in enumerate(events)
    )
    failed = list(
        WebhookDelivery.objects.filter(state=DeliveryState.FAILED).order_by("-event_id").values_list("pk", flat=True)
    )
    page_url = reverse("webhooks_admin:endpoint", args=[endpoint.pk])

    # When the failed ones are listed: the newest 50, and "Older" keeps the state
    first = client.get(page_url, {"state": "failed"}).content.decode()
    assert listed(first) == failed[:50] and f"{len(failed)} in all" in first
    assert link(first, "previous") is None and "state=failed" in link(first, "next")

    # When "Older" is followed: the rest, with no OFFSET; "Newer" goes back to the first page
    with CaptureQueriesContext(connection) as queries:
        second = client.get(link(first, "next")).content.decode()
    assert listed(second) == failed[50:] and link(second, "next") is None
    assert not any(" OFFSET " in query["sql"].upper() for query in queries)
    assert listed(client.get(link(second, "previous")).content.decode()) == failed[:50]

    # When a page link was tampered with: the first page and a message, not an error
    response = client.get(page_url, {"state": "failed", "after": "eyJ4IjoxfQ"})
    assert response.status_code == 200 and listed(response.content.decode()) == failed[:50]
    assert "That page link is not valid here" in response.content.decode()
