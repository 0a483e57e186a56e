"""Taking one person out of an automation from the admin, and an automation's topic and trigger held while people
are in it."""

import pytest
from django.test import Client
from wagtail.models import ModelLogEntry

from automations.models import AutomationState, AutomationTrigger, LeftReason, RunState
from tests.automations.test_admin import HOME, runs_at, staff_with, url
from tests.factories import TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_it(welcome_series):
    """The welcome series, active, with two people in it at step 3."""
    welcome_series.state = AutomationState.ACTIVE
    welcome_series.save()
    return runs_at(welcome_series, 3, 2)


def test_a_manager_finds_someone_by_address_takes_them_out_and_it_is_logged(client, welcome_series, in_it):
    manager = staff_with(client, "manage_automations")
    leaving, staying = in_it
    address = leaving.subscriber.email

    # When the manager opens the automation's page and follows "Take someone out of it"
    assert url("people", welcome_series) in client.get(url("detail", welcome_series)).content.decode()
    # And looks up the address, in another case
    found = client.get(url("people", welcome_series), {"address": address.upper()}).content.decode()
    # Then that one person is found, and no one else is listed
    assert address in found and url("run_stop", welcome_series, leaving.pk) in found
    assert staying.subscriber.email not in found

    # When "Take out" is followed: a confirmation, and nothing changed yet
    confirm = client.get(url("run_stop", welcome_series, leaving.pk)).content.decode()
    assert f"Take <strong>{address}</strong> out of Welcome series?" in confirm
    leaving.refresh_from_db()
    assert leaving.state == RunState.ACTIVE

    # When confirmed (a POST)
    response = client.post(url("run_stop", welcome_series, leaving.pk), follow=True)
    # Then the run has left, stopped by staff, the other person is still in it, the page says so, the log names who
    leaving.refresh_from_db()
    staying.refresh_from_db()
    assert leaving.state == RunState.LEFT and leaving.left_reason == LeftReason.STOPPED
    assert staying.state == RunState.ACTIVE
    assert f"{address} was taken out of Welcome series" in response.content.decode()
    logged = ModelLogEntry.objects.get(object_id=str(welcome_series.pk), action="automations.run_stop")
    assert logged.user == manager

    # When the button is pressed again (an old tab): nothing changes, and the page says why
    again = client.post(url("run_stop", welcome_series, leaving.pk), follow=True).content.decode()
    assert f"Nothing changed: {address} is no longer in it (left)." in again
    assert ModelLogEntry.objects.filter(action="automations.run_stop").count() == 1

    # And an address nobody in it has is said to be so
    nobody = client.get(url("people", welcome_series), {"address": "nobody@mail.example"}).content.decode()
    assert "Nobody with the address nobody@mail.example is in Welcome series now." in nobody


def test_only_staff_who_may_change_automations_take_people_out(client, welcome_series, in_it):
    run = in_it[0]
    staff_with(client, "view_automation")

    assert url("people", welcome_series) not in client.get(url("detail", welcome_series)).content.decode()
    for path in (url("people", welcome_series), url("run_stop", welcome_series, run.pk)):
        assert client.get(path).url == HOME
    assert client.post(url("run_stop", welcome_series, run.pk)).url == HOME
    run.refresh_from_db()
    assert run.state == RunState.ACTIVE


def test_taking_out_without_the_csrf_token_is_refused(welcome_series, in_it):
    client = Client(enforce_csrf_checks=True)
    staff_with(client, "manage_automations")
    run = in_it[0]

    assert client.post(url("run_stop", welcome_series, run.pk)).status_code == 403
    run.refresh_from_db()
    assert run.state == RunState.ACTIVE


def edit(client, automation, **changes):
    data = {
        "name": automation.name,
        "topic": automation.topic_id,
        "trigger": automation.trigger,
        "trigger_offset_days": 0,
        "trigger_hour": 9,
        **changes,
    }
    return client.post(url("edit", automation), data)


def test_the_topic_and_trigger_cannot_change_while_people_are_in_it(client, welcome_series, in_it):
    staff_with(client, "manage_automations")
    other_topic = TopicFactory(name="Atelier offers", slug="atelier-offers")

    # When the topic and the trigger are changed while two people are in it
    new_trigger = {"trigger": AutomationTrigger.API_EVENT, "trigger_event": "order_placed"}
    response = edit(client, welcome_series, topic=other_topic.pk, **new_trigger)
    # Then the form says, on each field, why and how many people; nothing changed
    html = response.content.decode()
    assert response.status_code == 200
    assert "The topic cannot change while 2 people are in this automation" in html
    assert "The trigger cannot change while 2 people are in this automation" in html
    welcome_series.refresh_from_db()
    assert welcome_series.topic.slug == "workshop-news" and welcome_series.trigger == AutomationTrigger.TOPIC_CONFIRMED

    # When only the name changes: saved
    assert edit(client, welcome_series, name="Welcome, new wording").status_code == 302
    welcome_series.refresh_from_db()
    assert welcome_series.name == "Welcome, new wording"

    # When everyone has left: the topic may change
    for run in in_it:
        run.state = RunState.FINISHED
        run.save()
    assert edit(client, welcome_series, topic=other_topic.pk).status_code == 302
    welcome_series.refresh_from_db()
    assert welcome_series.topic == other_topic
