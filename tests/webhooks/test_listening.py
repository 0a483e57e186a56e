"""Who listens to an event type (``subscribers.outbound``): the answer that lets a one-click unsubscribe skip what only
publishing needs. A wrong "nobody" would lose events, so each way an endpoint can want or stop wanting one is here."""

import psycopg
import pytest
from django.db import connection
from django.test import Client

from subscribers import outbound
from subscribers.links import unsubscribe_url
from subscribers.outbound import outbound_event_listened, outbound_event_listened_sql
from tests.factories import SubscriptionFactory
from webhooks.publishing import webhook_event_wanted
from webhooks.services import webhook_endpoint_create, webhook_endpoint_update

pytestmark = pytest.mark.django_db

WITHDRAWN = "subscription.withdrawn"


def listened_in_sql(type: str) -> bool | None:
    """What the one-click's statement would find (``outbound_event_listened_sql``); None off PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    condition, params = outbound_event_listened_sql(type=type)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:  # bound on the server, as the one-click's statement is
        return cursor.execute(f"SELECT {condition}", params).fetchone()[0]


def sql_agrees(type: str, expected: bool) -> bool:
    return listened_in_sql(type) in (None, expected)


def test_an_enabled_endpoint_that_wants_the_type_listens_and_no_other_does():
    assert not webhook_event_wanted(WITHDRAWN) and sql_agrees(WITHDRAWN, False)

    crm, _ = webhook_endpoint_create(user=None, name="CRM", url="https://crm.example/in", events=["subscriber.created"])
    assert not webhook_event_wanted(WITHDRAWN), "an endpoint that wants other types"
    assert sql_agrees(WITHDRAWN, False) and sql_agrees("subscriber.created", True)

    webhook_endpoint_update(user=None, endpoint=crm, events=["subscriber.created", WITHDRAWN], enabled=False)
    assert not webhook_event_wanted(WITHDRAWN), "a disabled endpoint"
    assert sql_agrees(WITHDRAWN, False)

    webhook_endpoint_update(user=None, endpoint=crm, enabled=True)
    assert webhook_event_wanted(WITHDRAWN)
    assert outbound_event_listened(type=WITHDRAWN)
    assert sql_agrees(WITHDRAWN, True)
    # A type that is a prefix of one wanted is not wanted
    assert sql_agrees("subscription", False)


def test_withdrawals_are_heard_only_through_webhooks_and_confirmations_always_by_automations():
    # Automations hear confirmations (they start runs), never withdrawals (each run checks consent at its next step)
    assert not outbound_event_listened(type=WITHDRAWN)
    assert outbound_event_listened(type="subscription.confirmed")
    # Said in SQL too: nobody for withdrawals; for confirmations, automations (which say it in Python) already listen
    assert outbound_event_listened_sql(type="subscription.confirmed") == ("TRUE", {})
    assert sql_agrees(WITHDRAWN, False)


@pytest.fixture
def everything_heard():
    """A publisher registered without saying what it listens to; what it hears."""
    heard = []
    outbound.outbound_publisher_register(lambda **event: heard.append(event["type"]), name="tests.everything")
    yield heard
    outbound._publishers.pop("tests.everything")
    outbound._listens.pop("tests.everything")


def test_a_publisher_that_does_not_say_what_it_listens_to_hears_every_one_click_unsubscribe(everything_heard):
    subscription = SubscriptionFactory()
    path = unsubscribe_url(subscription=subscription).split("://", 1)[1].split("/", 1)[1]

    assert outbound_event_listened(type=WITHDRAWN)
    assert outbound_event_listened_sql(type=WITHDRAWN) == ("TRUE", {})
    assert Client().post(f"/{path}", {"List-Unsubscribe": "One-Click"}).status_code == 200

    assert everything_heard == [WITHDRAWN]
