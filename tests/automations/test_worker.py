"""The worker takes each due run's steps: a welcome series delivered once each, in order, within consent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from automations.models import AutomationDelivery, AutomationRun, LeftReason, RunState
from automations.worker import automations_work
from campaigns.models import DeliveryState
from subscribers.models import ConsentSource, Subscription, SuppressionReason, SuppressionScope
from subscribers.services import subscription_withdraw, suppression_add
from tests.automations.conftest import confirm, time_passes
from tests.factories import ConfirmedSubscriberFactory

pytestmark = pytest.mark.django_db


def subjects_to(outbox, address: str) -> list[str]:
    return [message.subject for message in outbox.to(address)]


def test_a_welcome_series_of_three_emails_arrives_once_each_in_order_after_its_waits(active_series, topic, outbox):
    # Given a person who confirms a subscription to the series' topic
    ada = ConfirmedSubscriberFactory(email="ada@mail.example", first_name="Ada")
    confirm(ada, topic)
    run = AutomationRun.objects.get(automation=active_series, subscriber=ada)

    # When the worker runs: the first email at once, then nothing until the wait has passed
    automations_work()
    automations_work()
    assert subjects_to(outbox, ada.email) == ["Welcome 1, Ada"]
    run.refresh_from_db()
    assert (run.position, run.state) == (3, RunState.ACTIVE)
    assert run.due_at > timezone.now() + timedelta(hours=23)

    time_passes(active_series)
    automations_work()
    assert subjects_to(outbox, ada.email) == ["Welcome 1, Ada", "Welcome 2, Ada"]
    time_passes(active_series)
    automations_work()
    time_passes(active_series)
    automations_work()

    # Then three emails, once each, in order; the run finished; the ledger has one sent row per email step
    assert subjects_to(outbox, ada.email) == ["Welcome 1, Ada", "Welcome 2, Ada", "Welcome 3, Ada"]
    run.refresh_from_db()
    assert run.state == RunState.FINISHED
    rows = AutomationDelivery.objects.filter(run=run).order_by("step__position")
    assert [(r.step.position, r.state) for r in rows] == [(1, "sent"), (3, "sent"), (5, "sent")]
    assert all(r.ses_message_id for r in rows)


def test_each_email_carries_the_one_click_unsubscribe_headers_and_names_the_topic(active_series, topic, outbox):
    ada = ConfirmedSubscriberFactory(email="ada@mail.example", first_name="Ada")
    confirm(ada, topic)

    automations_work()

    message = outbox.last_to(ada.email)
    assert message.headers["List-Unsubscribe"].startswith("<http")
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "You receive this email because you subscribed to Workshop news" in message.text


def test_a_person_who_unsubscribes_between_two_steps_gets_nothing_more(active_series, topic, outbox):
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)
    automations_work()
    assert len(outbox.to(ada.email)) == 1

    # When she unsubscribes during the wait, and the wait passes
    subscription_withdraw(
        subscription=Subscription.objects.get(subscriber=ada, topic=topic), source=ConsentSource.ONE_CLICK
    )
    time_passes(active_series)
    automations_work()

    # Then no second email: her run left, saying why
    assert len(outbox.to(ada.email)) == 1
    run = AutomationRun.objects.get(subscriber=ada)
    assert (run.state, run.left_reason) == (RunState.LEFT, LeftReason.UNSUBSCRIBED)
    assert run.position == 3, "it left at the email step it did not take"


@pytest.mark.parametrize(
    ("reason", "left"),
    [(SuppressionReason.BOUNCE, LeftReason.SUPPRESSED), (SuppressionReason.ERASED, LeftReason.ERASED)],
)
def test_a_suppressed_address_leaves_with_the_reason(active_series, topic, outbox, reason, left):
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)
    automations_work()
    suppression_add(email=ada.email, scope=SuppressionScope.ALL, reason=reason)
    time_passes(active_series)

    automations_work()

    assert len(outbox.to(ada.email)) == 1
    run = AutomationRun.objects.get(subscriber=ada)
    assert (run.state, run.left_reason) == (RunState.LEFT, left)


def test_a_row_claimed_and_attempted_by_a_worker_that_died_is_never_sent_again(active_series, topic, outbox):
    # Given a worker that marked the first email attempting and died before recording it (its lease then ended)
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)
    run = AutomationRun.objects.get(subscriber=ada)
    step = active_series.steps.get(position=1)
    AutomationDelivery.objects.create(
        run=run,
        step=step,
        subscriber=ada,
        email=step.email,
        state=DeliveryState.CLAIMED,
        claimed_by="dead-worker",
        attempted_at=timezone.now() - timedelta(minutes=3),
    )

    # When another worker takes the run
    automations_work()

    # Then the row is in doubt and not sent again; the run goes on to its wait
    row = AutomationDelivery.objects.get(run=run, step=step)
    assert row.state == DeliveryState.UNKNOWN
    assert outbox.to(ada.email) == []
    run.refresh_from_db()
    assert (run.position, run.state) == (3, RunState.ACTIVE)


def test_a_row_found_sent_is_not_sent_again(active_series, topic, outbox):
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)
    automations_work()
    run = AutomationRun.objects.get(subscriber=ada)
    # A run put back at the email step it took (as after a crash between the ledger and the run's write)
    AutomationRun.objects.filter(pk=run.pk).update(position=1, due_at=timezone.now())

    automations_work()

    assert len(outbox.to(ada.email)) == 1
    run.refresh_from_db()
    assert run.position == 3


def test_an_email_ses_rejects_for_good_fails_and_the_run_leaves(active_series, topic, outbox, settings):
    # moto rejects a sender it has not verified: a permanent error
    page = active_series.steps.get(position=1).email
    page.sender = "Unverified <nobody@unverified.example>"
    settings.CAMPAIGN_SENDERS = [*settings.CAMPAIGN_SENDERS, page.sender]
    page.save_revision().publish()
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)

    automations_work()

    row = AutomationDelivery.objects.get(subscriber=ada)
    assert row.state == DeliveryState.FAILED and "rejected" in row.reason.lower()
    run = AutomationRun.objects.get(subscriber=ada)
    assert (run.state, run.left_reason) == (RunState.LEFT, LeftReason.FAILED)


def test_a_crowd_larger_than_a_short_list_is_sent_once_each_and_moved_on(active_series, topic, outbox):
    # Given more people at once than go to the database as a short list of values (their rows go as arrays on
    # PostgreSQL: the ledger's rows, their outcomes and the runs' next steps)
    from campaigns.sending.rowsets import ARRAYS_FROM

    people = [ConfirmedSubscriberFactory(email=f"crowd{n}@mail.example") for n in range(ARRAYS_FROM + 8)]
    for person in people:
        confirm(person, topic)

    # When the worker runs, and runs again
    automations_work()
    automations_work()

    # Then each got the first email exactly once, its ledger row says sent, and each run waits at step 3
    received = outbox.all()
    for person in people:
        subjects = [m.subject for m in received if person.email in m.to]
        assert len(subjects) == 1 and subjects[0].startswith("Welcome 1"), (person.email, subjects)
    rows = AutomationDelivery.objects.filter(run__automation=active_series)
    assert rows.count() == len(people)
    assert set(rows.values_list("state", flat=True)) == {DeliveryState.SENT}
    assert all(rows.values_list("ses_message_id", flat=True))
    runs = AutomationRun.objects.filter(automation=active_series)
    assert set(runs.values_list("position", "state", "claimed_by")) == {(3, RunState.ACTIVE, "")}
    assert all(due > timezone.now() + timedelta(hours=23) for due in runs.values_list("due_at", flat=True))
