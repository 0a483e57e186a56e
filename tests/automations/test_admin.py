"""The automation admin: who may read and change automations, pause and resume, steps someone has reached, errors
that name the field and change nothing, and the counts and results an automation's page shows."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry

from automations.models import (
    Automation,
    AutomationDelivery,
    AutomationRun,
    AutomationState,
    AutomationStep,
    AutomationTrigger,
    LeftReason,
    RunState,
    StepKind,
)
from automations.pages import automation_email_index
from campaigns.models import BounceType, DeliveryState
from tests.automations.conftest import email_page
from tests.factories import SubscriberFactory, UserFactory

pytestmark = pytest.mark.django_db

HOME = "/admin/"


def staff_with(client, *codenames: str, email: str = "automator@larkspur-lune.example"):
    """A staff account with admin access and only the automations permissions ``codenames``."""
    user = UserFactory(email=email, is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"),
        *Permission.objects.filter(content_type__app_label="automations", codename__in=codenames),
    )
    client.force_login(user)
    return user


@pytest.fixture
def manager(client):
    return staff_with(client, "manage_automations")


def runs_at(automation: Automation, position: int, people: int, *, state=RunState.ACTIVE, reason="") -> list:
    return [
        AutomationRun.objects.create(
            automation=automation,
            subscriber=SubscriberFactory(),
            position=position,
            state=state,
            left_reason=reason,
            due_at=timezone.now(),
        )
        for _ in range(people)
    ]


def url(name: str, automation: Automation, *args) -> str:
    return reverse(f"automations_admin:{name}", args=[automation.pk, *args])


def test_staff_without_the_permission_are_refused_every_page_and_action_and_nothing_changes(client, welcome_series):
    staff_with(client)  # admin access, no permission on automations
    welcome_series.state = AutomationState.ACTIVE
    welcome_series.save()
    step = welcome_series.steps.get(position=2)

    # Wagtail answers a refusal under /admin/ by sending the person back to the dashboard, with its message
    for path in (
        reverse("automations_admin:index"),
        reverse("automations_admin:add"),
        url("detail", welcome_series),
        url("edit", welcome_series),
        url("step_add", welcome_series),
        url("step_edit", welcome_series, step.pk),
    ):
        response = client.get(path)
        assert (response.status_code, response.url) == (302, HOME), path
    for path in (url("pause", welcome_series), url("step_delete", welcome_series, step.pk)):
        response = client.post(path)
        assert (response.status_code, response.url) == (302, HOME), path
    response = client.post(url("step_edit", welcome_series, step.pk), {"kind": "stop"})
    assert response.url == HOME

    welcome_series.refresh_from_db()
    assert welcome_series.state == AutomationState.ACTIVE
    assert welcome_series.steps.count() == 5 and welcome_series.steps.get(position=2).kind == StepKind.WAIT
    assert reverse("automations_admin:index") not in client.get(HOME).content.decode()


def test_staff_who_may_only_view_see_the_list_and_page_without_buttons_and_may_not_pause(client, welcome_series):
    staff_with(client, "view_automation")
    welcome_series.state = AutomationState.ACTIVE
    welcome_series.save()

    assert reverse("automations_admin:index") in client.get(HOME).content.decode()
    page = client.get(url("detail", welcome_series)).content.decode()
    assert "Welcome series" in page and "Send “Welcome 2”" in page
    assert url("pause", welcome_series) not in page and "Add a step" not in page
    assert client.post(url("pause", welcome_series)).url == HOME
    welcome_series.refresh_from_db()
    assert welcome_series.state == AutomationState.ACTIVE


def test_the_list_shows_each_automation_with_its_state_trigger_and_people_in_it_finished_and_left(
    client, manager, welcome_series
):
    welcome_series.state = AutomationState.ACTIVE
    welcome_series.save()
    runs_at(welcome_series, 1, 2)
    runs_at(welcome_series, 3, 1)
    runs_at(welcome_series, 5, 4, state=RunState.FINISHED)
    runs_at(welcome_series, 2, 1, state=RunState.LEFT, reason=LeftReason.UNSUBSCRIBED)

    response = client.get(reverse("automations_admin:index"))

    html = response.content.decode()
    assert response.status_code == 200
    automation, trigger = response.context["rows"][0]
    assert (automation.in_it, automation.finished, automation.left, automation.step_count) == (3, 4, 1, 5)
    assert trigger == "When someone confirms a subscription to Workshop news"
    assert "Active" in html and "Add an automation" in html
    assert f'href="/admin/pages/{automation_email_index().pk}/"' in html  # the emails, in the page explorer


def test_a_new_automation_with_bad_input_is_refused_naming_the_field_and_nothing_is_saved(client, manager, topic):
    response = client.post(
        reverse("automations_admin:add"),
        {"name": "First order", "topic": topic.pk, "trigger": AutomationTrigger.API_EVENT, "trigger_hour": 9},
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"trigger_event": ["Give the event name the API will receive."]}
    assert "The automation was not saved" in response.content.decode()
    response = client.post(
        reverse("automations_admin:add"),
        {
            "name": "First order",
            "topic": topic.pk,
            "trigger": AutomationTrigger.API_EVENT,
            "trigger_event": "First Order!",
            "trigger_hour": 9,
        },
    )
    assert "Use lower-case letters" in response.context["form"].errors["trigger_event"][0]
    assert not Automation.objects.exists()


def test_staff_add_an_automation_and_its_steps_then_activate_it_and_the_audit_log_names_them(
    client, manager, topic, welcome_emails
):
    # Given a new automation, saved as a draft
    response = client.post(
        reverse("automations_admin:add"),
        {
            "name": "Welcome",
            "topic": topic.pk,
            "trigger": AutomationTrigger.TOPIC_CONFIRMED,
            "trigger_offset_days": 0,
            "trigger_hour": 9,
        },
    )
    automation = Automation.objects.get(name="Welcome")
    assert response.url == url("detail", automation)
    assert automation.state == AutomationState.DRAFT and automation.created_by == manager

    # When steps are added: an email, a wait of two days, a wait until Monday 10:00, a stop
    first = welcome_emails[0]
    for data in (
        {"kind": "email", "email": first.pk},
        {"kind": "wait", "wait_by": "duration", "wait_amount": 2, "wait_unit": "days"},
        {"kind": "wait", "wait_by": "weekday", "wait_weekday": 0, "wait_hour": 10},
        {"kind": "stop"},
    ):
        response = client.post(url("step_add", automation), data)
        assert response.status_code == 302, response.context["form"].errors

    # Then they are numbered in order with only their own fields
    steps = list(automation.steps.order_by("position").values_list("position", "kind", "wait_seconds", "wait_weekday"))
    assert steps == [(1, "email", None, None), (2, "wait", 172800, None), (3, "wait", None, 0), (4, "stop", None, None)]
    page = client.get(url("detail", automation)).content.decode()
    assert "Wait 2 days" in page and "Wait until Monday at 10:00" in page

    # And a wait without its length is refused, naming the field
    response = client.post(url("step_add", automation), {"kind": "wait", "wait_by": "duration"})
    assert response.context["form"].errors == {"wait_amount": ["Say how long to wait, such as 3 days."]}
    assert automation.steps.count() == 4

    # When it is activated
    response = client.post(url("activate", automation), follow=True)
    automation.refresh_from_db()
    assert automation.state == AutomationState.ACTIVE
    assert "Activated." in response.content.decode()
    actions = list(ModelLogEntry.objects.filter(object_id=str(automation.pk)).values_list("action", "user"))
    assert ("automations.create", manager.pk) in actions and ("automations.activate", manager.pk) in actions
    assert actions.count(("automations.step_add", manager.pk)) == 4


def test_an_email_step_offers_the_emails_and_a_link_to_write_one_and_refuses_a_draft(client, manager, welcome_series):
    draft = email_page(4)
    draft.unpublish()

    page = client.get(url("step_add", welcome_series)).content.decode()
    assert "/admin/pages/add/automations/automationemailpage/" in page
    assert "Welcome 4 (draft)" in page
    response = client.post(url("step_add", welcome_series), {"kind": "email", "email": draft.pk})
    assert response.context["form"].errors["email"] == [
        "“Welcome 4” is a draft: publish it first, so the step has a version to send."
    ]
    assert welcome_series.steps.count() == 5


def test_pause_and_resume_are_posts_that_change_the_state_say_so_and_are_logged(client, manager, welcome_series):
    welcome_series.state = AutomationState.ACTIVE
    welcome_series.save()

    assert client.get(url("pause", welcome_series)).status_code == 405
    response = client.post(url("pause", welcome_series), follow=True)
    welcome_series.refresh_from_db()
    assert welcome_series.state == AutomationState.PAUSED and welcome_series.paused_at is not None
    html = response.content.decode()
    assert "Paused. No step is taken until it is resumed" in html
    assert url("resume", welcome_series) in html and url("pause", welcome_series) not in html

    # A second pause (a button in an old tab) changes nothing and says so
    response = client.post(url("pause", welcome_series), follow=True)
    assert "Nothing changed. Only an active automation can be paused; it is paused." in response.content.decode()
    welcome_series.refresh_from_db()
    assert welcome_series.state == AutomationState.PAUSED

    response = client.post(url("resume", welcome_series), follow=True)
    welcome_series.refresh_from_db()
    assert welcome_series.state == AutomationState.ACTIVE and welcome_series.paused_at is None
    assert "Resumed." in response.content.decode()
    logged = ModelLogEntry.objects.filter(object_id=str(welcome_series.pk)).values_list("action", flat=True)
    assert sorted(logged) == ["automations.pause", "automations.resume"]
    assert set(ModelLogEntry.objects.filter(object_id=str(welcome_series.pk)).values_list("user", flat=True)) == {
        manager.pk
    }


def test_pause_without_the_csrf_token_is_refused(welcome_series):
    client = Client(enforce_csrf_checks=True)
    staff_with(client, "manage_automations")
    welcome_series.state = AutomationState.ACTIVE
    welcome_series.save()

    assert client.post(url("pause", welcome_series)).status_code == 403
    welcome_series.refresh_from_db()
    assert welcome_series.state == AutomationState.ACTIVE


def test_a_step_someone_has_reached_cannot_be_changed_moved_or_removed_and_the_page_says_why(
    client, manager, welcome_series
):
    # Given one person waiting at step 2 (so they have passed step 1)
    welcome_series.state = AutomationState.ACTIVE
    welcome_series.save()
    runs_at(welcome_series, 2, 1)
    one, two, three = (welcome_series.steps.get(position=n) for n in (1, 2, 3))

    # Then the page shows steps 1 and 2 locked, with the reason, and step 3 open
    response = client.get(url("detail", welcome_series))
    rows = {row["step"].position: row for row in response.context["rows"]}
    assert rows[2]["locked"] == "1 person has reached or passed it, so it stays as they found it."
    assert rows[1]["locked"] and not rows[3]["locked"]
    assert "Cannot be changed or removed: 1 person has reached or passed it" in response.content.decode()
    assert url("step_edit", welcome_series, two.pk) not in response.content.decode()
    assert url("step_edit", welcome_series, three.pk) in response.content.decode()
    assert not rows[3]["may_move_up"] and rows[3]["may_move_down"]

    # When someone posts a change, a removal or a move of step 2 anyway, each is refused with the reason
    response = client.get(url("step_edit", welcome_series, two.pk), follow=True)
    assert "Step 2 cannot be changed: 1 person has reached or passed it" in response.content.decode()
    response = client.post(url("step_edit", welcome_series, two.pk), {"kind": "stop"})
    assert response.status_code == 200
    assert "Step 2 cannot be changed: 1 person has already reached it." in response.content.decode()
    response = client.post(url("step_delete", welcome_series, one.pk), follow=True)
    assert "Step 1 cannot be removed: 1 person has already reached it." in response.content.decode()
    response = client.post(url("step_move_down", welcome_series, two.pk), follow=True)
    assert "Step 2 cannot be moved" in response.content.decode()
    assert list(welcome_series.steps.values_list("pk", "position", "kind")) == [
        (one.pk, 1, "email"),
        (two.pk, 2, "wait"),
        (three.pk, 3, "email"),
        *welcome_series.steps.filter(position__gt=3).values_list("pk", "position", "kind"),
    ]
    assert welcome_series.steps.get(pk=two.pk).wait_seconds == 86400

    # But step 4, which nobody has reached, may be changed
    response = client.post(
        url("step_edit", welcome_series, welcome_series.steps.get(position=4).pk),
        {"kind": "wait", "wait_by": "duration", "wait_amount": 3, "wait_unit": "hours"},
    )
    assert response.status_code == 302
    assert welcome_series.steps.get(position=4).wait_seconds == 3 * 3600


def test_removing_an_unreached_step_moves_the_later_ones_up_and_moving_swaps_two(client, manager, welcome_series):
    three, four, five = (welcome_series.steps.get(position=n) for n in (3, 4, 5))

    response = client.post(url("step_move_up", welcome_series, five.pk))
    assert response.status_code == 302
    assert AutomationStep.objects.get(pk=five.pk).position == 4
    assert AutomationStep.objects.get(pk=four.pk).position == 5
    moved = ModelLogEntry.objects.get(object_id=str(welcome_series.pk), action="automations.step_move")
    assert (moved.user, moved.data) == (manager, {"from": 5, "to": 4})
    assert moved.message == "Moved a step of the automation"

    client.post(url("step_delete", welcome_series, three.pk))
    assert not AutomationStep.objects.filter(pk=three.pk).exists()
    assert list(welcome_series.steps.order_by("position").values_list("position", "pk")) == [
        (1, welcome_series.steps.get(position=1).pk),
        (2, welcome_series.steps.get(position=2).pk),
        (3, five.pk),
        (4, four.pk),
    ]


def delivery(run_step, *, count: int, **fields) -> None:
    step = run_step
    for _ in range(count):
        AutomationDelivery.objects.create(
            step=step, email=step.email, subscriber=SubscriberFactory(), **{"state": DeliveryState.SENT, **fields}
        )


def test_the_page_shows_people_at_each_step_and_each_emails_results_behind_the_privacy_floor(
    client, manager, welcome_series
):
    # Given people at steps 2 and 4, some finished, some left for different reasons
    welcome_series.state = AutomationState.ACTIVE
    welcome_series.save()
    runs_at(welcome_series, 2, 7)
    runs_at(welcome_series, 4, 3)
    runs_at(welcome_series, 5, 2, state=RunState.FINISHED)
    runs_at(welcome_series, 3, 6, state=RunState.LEFT, reason=LeftReason.UNSUBSCRIBED)
    runs_at(welcome_series, 3, 8, state=RunState.LEFT, reason=LeftReason.SEGMENT)
    runs_at(welcome_series, 3, 2, state=RunState.LEFT, reason=LeftReason.SUPPRESSED)
    # And the first email sent 12 times (10 delivered, 2 bounced), the second sent 3 times
    first, second = (welcome_series.steps.get(position=n) for n in (1, 3))
    delivery(first, count=10, delivered_at=timezone.now())
    delivery(first, count=2, bounce_type=BounceType.PERMANENT, bounced_at=timezone.now())
    delivery(second, count=3, delivered_at=timezone.now())

    response = client.get(url("detail", welcome_series))

    rows = {row["step"].position: row for row in response.context["rows"]}
    # Where people are is shown exactly, as a send's progress is
    assert [rows[n]["people"] for n in range(1, 6)] == [0, 7, 0, 3, 0]
    people = response.context["people"]
    assert (people["active"], people["finished"], people["left"]) == (10, 2, 16)
    # Why they left goes through the floor: 2 suppressed shows as "<5", and the smallest other reason is hidden too,
    # or 16 - 8 - 6 would give it away
    reasons = {row["reason"]: row["shown"] for row in people["left_reasons"]}
    assert reasons == {"segment": "8", "unsubscribed": "hidden", "suppressed": "<5"}
    # The first email: 12 accepted, 10 delivered, bounces below the floor, their rate hidden
    results = rows[1]["results"]
    assert (results["shown"]["sent"], results["shown"]["delivered"], results["shown"]["bounced"]) == ("12", "10", "<5")
    rates = {rate["name"]: rate["shown"] for rate in results["rates"]}
    assert rates == {"delivered": "83.3%", "bounced": "hidden", "complained": "0%"}
    # The second: three people, so every count and rate is behind the floor
    assert rows[3]["results"]["shown"]["sent"] == "<5"
    assert {rate["shown"] for rate in rows[3]["results"]["rates"]} == {"hidden"}
    assert rows[5]["results"] is None
    html = response.content.decode()
    assert "Not sent to anyone yet." in html and "Did not match the segment of a condition" in html


def test_when_one_reason_is_all_who_left_and_it_is_small_the_total_left_is_under_the_floor_too(
    client, manager, welcome_series
):
    # Given seven people in the series, one of whom left because she unsubscribed
    welcome_series.state = AutomationState.ACTIVE
    welcome_series.save()
    runs_at(welcome_series, 2, 7)
    runs_at(welcome_series, 3, 1, state=RunState.LEFT, reason=LeftReason.UNSUBSCRIBED)

    response = client.get(url("detail", welcome_series))

    # Then neither the reason nor the total of those who left says it was one person
    people = response.context["people"]
    assert [row["shown"] for row in people["left_reasons"]] == ["<5"]
    assert people["left_shown"] == "<5"
    assert re.search(r'data-people-count="left">\s*&lt;5<', response.content.decode())


def test_a_date_trigger_needs_its_attribute_and_is_described_with_its_offset_and_hour(client, manager, topic):
    from subscribers.models import AttributeType
    from tests.campaigns.segments.conftest import attribute

    birthday = attribute("birthday", AttributeType.DATE)
    data = {"name": "Birthday", "topic": topic.pk, "trigger": AutomationTrigger.DATE_ATTRIBUTE, "trigger_hour": 10}

    refused = client.post(reverse("automations_admin:add"), data)
    errors = refused.context["form"].errors
    assert errors == {"trigger_attribute": ["Choose the date attribute whose day starts a run."]}

    response = client.post(
        reverse("automations_admin:add"), {**data, "trigger_attribute": birthday.pk, "trigger_offset_days": -3}
    )
    automation = Automation.objects.get(name="Birthday")
    assert response.url == url("detail", automation)
    assert (automation.trigger_attribute, automation.trigger_offset_days, automation.trigger_hour) == (birthday, -3, 10)
    row = client.get(reverse("automations_admin:index")).context["rows"][0]
    assert row[1] == f"Every year 3 days before {birthday.label}, at 10:00"


def test_the_write_a_new_email_link_opens_the_page_editor_for_an_automation_email(client, manager, welcome_series):
    client.force_login(UserFactory(email="root@larkspur-lune.example", is_staff=True, is_superuser=True))
    page = client.get(url("step_add", welcome_series))
    add_url = page.context["email_add_url"]

    editor = client.get(add_url)

    assert editor.status_code == 200
    assert editor.context["page"].__class__.__name__ == "AutomationEmailPage"
    assert {"subject", "sender", "body"} <= set(editor.context["form"].fields)


def test_the_list_costs_the_same_queries_for_one_automation_as_for_three(client, manager, welcome_series, topic):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    runs_at(welcome_series, 2, 3)

    def list_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("automations_admin:index")).status_code == 200
        return len(queries)

    one = list_queries()
    for name in ("Second", "Third"):
        other = Automation.objects.create(name=name, topic=topic, trigger=AutomationTrigger.TOPIC_CONFIRMED)
        runs_at(other, 1, 2)
    assert list_queries() == one
