"""Events that start automations through the API (``automations:trigger``)."""

import pytest

from automations.models import AutomationRun, AutomationTrigger, StepKind
from automations.services import automation_activate, automation_create, step_add
from tests.api.conftest import error_of
from tests.automations.conftest import email_page
from tests.factories import ConfirmedSubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/automations/events/"


@pytest.fixture
def first_order():
    automation = automation_create(
        name="After a first order",
        topic=TopicFactory(),
        trigger=AutomationTrigger.API_EVENT,
        trigger_event="first_order",
    )
    step_add(automation=automation, kind=StepKind.EMAIL, email=email_page(1))
    return automation_activate(automation=automation)


def test_an_event_enters_the_subscriber_in_the_automations_it_starts_once_per_key(api_client, first_order):
    client = api_client("automations:trigger")
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")

    by_id = client.post(URL, {"event": "first_order", "subscriber": str(ada.public_id)})
    again = client.post(URL, {"event": "first_order", "subscriber": "ADA@mail.example"})
    other_key = client.post(URL, {"event": "first_order", "subscriber": ada.email, "key": "order-1002"})
    unrelated = client.post(URL, {"event": "birthday", "subscriber": ada.email})

    assert (by_id.status_code, by_id.json()) == (202, {"event": "first_order", "entered": [first_order.pk]})
    assert again.json()["entered"] == []
    assert other_key.json()["entered"] == [first_order.pk]
    assert unrelated.json()["entered"] == []
    assert sorted(AutomationRun.objects.filter(subscriber=ada).values_list("occurrence", flat=True)) == [
        "",
        "order-1002",
    ]


def test_a_key_without_the_scope_is_refused_and_no_one_enters(api_client, first_order):
    client = api_client("subscribers:read", "subscribers:write")
    ada = ConfirmedSubscriberFactory()

    response = client.post(URL, {"event": "first_order", "subscriber": str(ada.public_id)})

    assert response.status_code == 403
    assert "automations:trigger" in error_of(response)["message"]
    assert not AutomationRun.objects.exists()


def test_an_unknown_subscriber_is_a_404_and_a_bad_event_name_a_400(api_client, first_order):
    client = api_client("automations:trigger")

    missing = client.post(URL, {"event": "first_order", "subscriber": "nobody@mail.example"})
    bad = client.post(URL, {"event": "First Order!", "subscriber": "nobody@mail.example"})

    assert missing.status_code == 404
    assert bad.status_code == 400 and "event" in error_of(bad)["fields"]
