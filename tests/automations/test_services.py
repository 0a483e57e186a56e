"""Staff actions on automations, and people entering by each trigger."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from wagtail.models import ModelLogEntry

from automations.errors import AutomationStateError, StepReachedError
from automations.models import (
    Automation,
    AutomationRun,
    AutomationState,
    AutomationTrigger,
    LeftReason,
    RunState,
    StepKind,
)
from automations.schedule import shop_today
from automations.services import (
    automation_activate,
    automation_create,
    automation_enter,
    automation_pause,
    automation_resume,
    date_triggers_enter,
    step_add,
    step_delete,
    step_update,
)
from automations.worker import automations_work, runs_due_exist
from subscribers.models import Attribute, AttributeType, AttributeValue, SubscriptionStatus
from tests.automations.conftest import confirm
from tests.factories import ConfirmedSubscriberFactory, SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db


def automator():
    """A member of staff who may manage automations."""
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="manage_automations"))
    return staff


def test_a_draft_takes_no_one_in_and_activating_it_needs_its_steps(topic, welcome_emails):
    staff = automator()
    automation = automation_create(
        name="Welcome", topic=topic, trigger=AutomationTrigger.TOPIC_CONFIRMED, user=staff
    )
    ada = ConfirmedSubscriberFactory()

    confirm(ada, topic)
    assert not AutomationRun.objects.exists(), "a draft takes no one in"
    with pytest.raises(AutomationStateError, match="at least one step"):
        automation_activate(automation=automation, user=staff)

    step_add(automation=automation, kind=StepKind.EMAIL, email=welcome_emails[0], user=staff)
    automation_activate(automation=automation, user=staff)

    assert Automation.objects.get(pk=automation.pk).state == AutomationState.ACTIVE
    logged = list(ModelLogEntry.objects.filter(object_id=str(automation.pk)).values_list("action", "user_id"))
    assert ("automations.create", staff.pk) in logged
    assert ("automations.step_add", staff.pk) in logged
    assert ("automations.activate", staff.pk) in logged


def test_entering_is_idempotent_per_occurrence(active_series):
    ada = ConfirmedSubscriberFactory()

    first = automation_enter(automation=active_series, subscriber=ada)
    again = automation_enter(automation=active_series, subscriber=ada)
    next_year = automation_enter(automation=active_series, subscriber=ada, occurrence="2027")

    assert first is not None and again is None and next_year is not None
    assert AutomationRun.objects.filter(subscriber=ada).count() == 2


def test_a_paused_automation_takes_no_step_until_resumed(active_series, topic, outbox):
    staff = automator()
    ada = ConfirmedSubscriberFactory()
    confirm(ada, topic)
    automation_pause(automation=active_series, user=staff)

    # While paused, the due run waits: beat sees nothing due and a worker claims nothing
    assert not runs_due_exist()
    assert automations_work() == 0
    assert outbox.to(ada.email) == []
    run = AutomationRun.objects.get(subscriber=ada)
    assert (run.state, run.position) == (RunState.ACTIVE, 1)

    # Resumed, it is taken at once
    automation_resume(automation=active_series, user=staff)
    assert runs_due_exist()
    automations_work()
    assert len(outbox.to(ada.email)) == 1


def test_a_step_someone_has_reached_cannot_be_changed_and_the_error_says_why(active_series, topic, welcome_emails):
    ada = ConfirmedSubscriberFactory()
    confirm(ada, topic)
    automations_work()  # Ada is now at step 3 (after the first email and its wait)
    reached, ahead = active_series.steps.get(position=2), active_series.steps.get(position=4)

    with pytest.raises(StepReachedError, match="Step 2 cannot be changed: 1 person has already reached it"):
        step_update(step=reached, kind=StepKind.WAIT, wait_seconds=60)
    with pytest.raises(StepReachedError):
        step_delete(step=active_series.steps.get(position=3))

    step_update(step=ahead, kind=StepKind.WAIT, wait_weekday=0, wait_hour=9)
    ahead.refresh_from_db()
    assert (ahead.wait_seconds, ahead.wait_weekday, ahead.wait_hour) == (None, 0, 9)
    reached.refresh_from_db()
    assert reached.wait_seconds == 86400


def test_a_wait_until_a_weekday_and_hour_is_due_then_in_the_shops_time_zone(active_series, topic, settings):
    settings.SHOP_TIME_ZONE = "America/New_York"
    step_update(step=active_series.steps.get(position=2), kind=StepKind.WAIT, wait_weekday=0, wait_hour=9)
    ada = ConfirmedSubscriberFactory()
    confirm(ada, topic)

    automations_work()

    due = AutomationRun.objects.get(subscriber=ada).due_at.astimezone(ZoneInfo("America/New_York"))
    assert (due.weekday(), due.hour, due.minute) == (0, 9, 0)
    assert timezone.now() < due <= timezone.now() + timedelta(days=7)


@pytest.fixture
def birthday_series(topic, welcome_emails):
    birthday = Attribute.objects.create(key="birthday", label="Birthday", type=AttributeType.DATE)
    automation = automation_create(
        name="Birthday",
        topic=topic,
        trigger=AutomationTrigger.DATE_ATTRIBUTE,
        trigger_attribute=birthday,
        trigger_offset_days=-3,  # three days before
        trigger_hour=9,
    )
    step_add(automation=automation, kind=StepKind.EMAIL, email=welcome_emails[0])
    return automation_activate(automation=automation)


def born(topic, day: date):
    person = SubscriptionFactory(topic=topic, status=SubscriptionStatus.ACTIVE).subscriber
    AttributeValue.objects.create(subscriber=person, attribute=Attribute.objects.get(key="birthday"), date=day)
    return person


def test_a_date_trigger_enters_on_the_right_day_in_the_shops_time_zone_once_a_year(birthday_series, topic, settings):
    settings.SHOP_TIME_ZONE = "Pacific/Auckland"
    zone = ZoneInfo("Pacific/Auckland")
    due = born(topic, date(1990, 6, 13))  # 13 June: three days before is 10 June
    other_day = born(topic, date(1990, 6, 14))
    unsubscribed = born(topic, date(1985, 6, 13))
    unsubscribed.subscriptions.update(status=SubscriptionStatus.UNSUBSCRIBED)

    # 8:30 on 10 June in Auckland (still 9 June in UTC): before the hour, no one
    date_triggers_enter(now=datetime(2027, 6, 10, 8, 30, tzinfo=zone))
    assert not AutomationRun.objects.exists()
    # 9:05 on 10 June in Auckland: the person born on 13 June, and no one else
    date_triggers_enter(now=datetime(2027, 6, 10, 9, 5, tzinfo=zone))
    date_triggers_enter(now=datetime(2027, 6, 10, 21, 0, tzinfo=zone))
    assert list(AutomationRun.objects.values_list("subscriber_id", "occurrence")) == [(due.pk, "2027")]
    assert AutomationRun.objects.get().started_at == datetime(2027, 6, 10, 9, 5, tzinfo=zone)  # the day it began
    assert other_day.pk not in AutomationRun.objects.values_list("subscriber_id", flat=True)
    # The next year, again: once a year
    date_triggers_enter(now=datetime(2028, 6, 10, 9, 0, tzinfo=zone))
    assert sorted(AutomationRun.objects.values_list("occurrence", flat=True)) == ["2027", "2028"]


def test_a_date_removed_or_changed_after_entering_sends_none_of_its_emails(topic, welcome_emails, outbox):
    # Given a birthday series (on the day, from midnight), and three people whose birthday is today, entered
    birthday = Attribute.objects.create(key="birthday", label="Birthday", type=AttributeType.DATE)
    automation = automation_create(
        name="Birthday", topic=topic, trigger=AutomationTrigger.DATE_ATTRIBUTE, trigger_attribute=birthday,
        trigger_hour=0,
    )
    step_add(automation=automation, kind=StepKind.EMAIL, email=welcome_emails[0])
    automation_activate(automation=automation)
    today, _ = shop_today(timezone.now())
    kept, removed, corrected = (born(topic, date(1990, today.month, today.day)) for _ in range(3))
    date_triggers_enter()
    assert AutomationRun.objects.filter(state=RunState.ACTIVE).count() == 3

    # When, before the email goes, one asks for their birthday to be deleted and another corrects it to another day
    AttributeValue.objects.filter(subscriber=removed).delete()
    AttributeValue.objects.filter(subscriber=corrected).update(date=date(1990, 1 if today.month != 1 else 2, 1))
    automations_work()

    # Then only the birthday still held gets its email; the others leave, saying why
    assert len(outbox.to(kept.email)) == 1
    assert outbox.to(removed.email) == [] and outbox.to(corrected.email) == []
    left = AutomationRun.objects.filter(subscriber__in=[removed, corrected])
    assert set(left.values_list("state", "left_reason")) == {(RunState.LEFT, LeftReason.DATE_CHANGED)}


def test_a_29_february_date_comes_round_on_1_march_in_other_years(topic, welcome_emails):
    birthday = Attribute.objects.create(key="birthday", label="Birthday", type=AttributeType.DATE)
    automation = automation_create(
        name="Birthday", topic=topic, trigger=AutomationTrigger.DATE_ATTRIBUTE, trigger_attribute=birthday
    )
    step_add(automation=automation, kind=StepKind.EMAIL, email=welcome_emails[0])
    automation_activate(automation=automation)
    leapling = born(topic, date(2000, 2, 29))

    date_triggers_enter(now=datetime(2027, 3, 1, 12, 0, tzinfo=ZoneInfo("Europe/London")))

    assert list(AutomationRun.objects.values_list("subscriber_id", flat=True)) == [leapling.pk]


def test_beat_with_nothing_due_asks_one_query(active_series, topic):
    ada = ConfirmedSubscriberFactory()
    confirm(ada, topic)
    AutomationRun.objects.update(due_at=timezone.now() + timedelta(hours=1))

    with CaptureQueriesContext(connection) as queries:
        from automations.tasks import automations_tick_task

        woke = automations_tick_task()

    assert woke is False
    assert len(queries.captured_queries) == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_beats_query_uses_the_partial_index_of_active_runs(active_series):
    # Many finished runs and a few active ones, so the planner has a reason to choose
    people = [ConfirmedSubscriberFactory() for _ in range(50)]
    now = timezone.now()
    AutomationRun.objects.bulk_create(
        AutomationRun(automation=active_series, subscriber=p, due_at=now, state=RunState.FINISHED) for p in people
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE automations_automationrun")
        cursor.execute("SET enable_seqscan = off")  # a tiny table: ask whether the index can serve, not the costs
        try:
            query = AutomationRun.objects.filter(
                state=RunState.ACTIVE, due_at__lte=now, automation__state=AutomationState.ACTIVE
            )
            sql, params = query.values("pk")[:1].query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")

    assert "automation_run_due" in plan, plan


def test_every_staff_action_checks_its_permission_whoever_calls_it(active_series, welcome_emails):
    from django.contrib.auth.models import Permission

    from subscribers.errors import ActionForbidden

    # Given a member of staff without the permission to manage automations, and one with it
    without = UserFactory(is_staff=True)
    allowed = UserFactory(is_staff=True)
    allowed.user_permissions.add(Permission.objects.get(codename="manage_automations"))
    step = active_series.steps.order_by("position").last()

    # When the one without it pauses the automation, changes a step or creates an automation
    for action in (
        lambda: automation_pause(automation=active_series, user=without),
        lambda: step_update(step=step, wait_seconds=60, user=without),
        lambda: automation_create(name="Birthdays", topic=active_series.topic, trigger="api_event",
                                  trigger_event="birthday", user=without),
    ):  # fmt: skip
        with pytest.raises(ActionForbidden, match=r"automations\.manage_automations"):
            action()

    # Then nothing changed; and the one with it may
    active_series.refresh_from_db()
    assert active_series.state == AutomationState.ACTIVE
    assert not Automation.objects.filter(name="Birthdays").exists()
    assert automation_pause(automation=active_series, user=allowed).state == AutomationState.PAUSED


def test_campaign_senders_manage_automations_and_campaign_editors_only_read_them(active_series):
    from django.contrib.auth.models import Group

    from subscribers.errors import ActionForbidden

    # Given one member of staff in each role, as the migrations make them
    editor, sender = UserFactory(is_staff=True), UserFactory(is_staff=True)
    editor.groups.add(Group.objects.get(name="Campaign editors"))
    sender.groups.add(Group.objects.get(name="Campaign senders"))

    # Then the editor may read automations but not pause one; the sender may
    assert editor.has_perm("automations.view_automation")
    with pytest.raises(ActionForbidden):
        automation_pause(automation=active_series, user=editor)
    assert automation_pause(automation=active_series, user=sender).state == AutomationState.PAUSED


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_crowd_entered_at_once_gives_the_planner_its_numbers_straight_away(active_series, settings):
    from automations.services import runs_enter_subscribers

    def runs_the_planner_knows() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'automations_automationrun'")
            return cursor.fetchone()[0]

    settings.AUTOMATION_ANALYZE_FROM = 6
    few = [ConfirmedSubscriberFactory().pk for _ in range(5)]
    crowd = [ConfirmedSubscriberFactory().pk for _ in range(6)]
    known_before = runs_the_planner_knows()

    runs_enter_subscribers(automation=active_series, subscriber_ids=few, occurrence="few")
    assert runs_the_planner_knows() == known_before, "a few people: left to autovacuum"

    runs_enter_subscribers(automation=active_series, subscriber_ids=crowd, occurrence="crowd")
    assert runs_the_planner_knows() == AutomationRun.objects.count() == 11
