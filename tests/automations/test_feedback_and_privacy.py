"""SES events settle automation emails by their tag; a person's runs and emails are in their copy of their data and
gone from them on erasure; a condition step keeps only the people its segment selects."""

import pytest
from django.test import TestCase

from automations.models import AutomationDelivery, AutomationRun, LeftReason, RunState, StepKind
from automations.services import automation_activate, automation_create, step_add
from automations.worker import automations_work
from campaigns.feedback.events import feedback_process, feedback_receive
from campaigns.models import BounceType, DeliveryState
from campaigns.segments.services import segment_create
from subscribers.models import ErasureSource, Suppression, SuppressionScope
from subscribers.services.access_export import access_export_tables
from subscribers.services.erasure import subscriber_erase
from tests.automations.conftest import confirm, email_page, time_passes
from tests.campaigns import ses_events as ses
from tests.factories import ConfirmedSubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db


def receive(event: dict) -> None:
    stored = feedback_receive(sns_message=ses.sns_notification(event))
    with TestCase.captureOnCommitCallbacks(execute=True):
        feedback_process(event_id=stored.pk)


def automation_mail(row: AutomationDelivery, *, message_id: str | None = None) -> dict:
    mail = ses.mail(message_id=message_id or row.ses_message_id, to=[row.subscriber.email])
    mail["tags"]["automation_delivery"] = [str(row.pk)]
    return mail


def test_a_delivery_event_records_delivery_and_settles_a_row_left_in_doubt(active_series, topic):
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)
    automations_work()
    row = AutomationDelivery.objects.get(subscriber=ada)
    AutomationDelivery.objects.filter(pk=row.pk).update(state=DeliveryState.UNKNOWN, ses_message_id="")

    receive(ses.delivery(mail=automation_mail(row, message_id="0100-ses-id")))

    row.refresh_from_db()
    assert row.state == DeliveryState.SENT and row.ses_message_id == "0100-ses-id"
    assert row.delivered_at is not None


def test_a_hard_bounce_is_recorded_suppresses_the_address_and_the_run_leaves_at_its_next_email(active_series, topic):
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)
    automations_work()
    row = AutomationDelivery.objects.get(subscriber=ada)

    receive(
        ses.bounce(
            mail=automation_mail(row),
            bounce_type="Permanent",
            sub_type="General",
            recipients=[ses.bounced_recipient(ada.email)],
        )
    )
    time_passes(active_series)
    automations_work()

    row.refresh_from_db()
    assert row.bounce_type == BounceType.PERMANENT and row.bounced_at is not None
    assert Suppression.objects.filter(address_hmac=ada.address_hmac, scope=SuppressionScope.ALL).exists()
    run = AutomationRun.objects.get(subscriber=ada)
    assert (run.state, run.left_reason) == (RunState.LEFT, LeftReason.SUPPRESSED)
    assert AutomationDelivery.objects.filter(subscriber=ada).count() == 1


def test_a_campaigns_event_changes_no_automation_row(active_series, topic):
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)
    automations_work()
    row = AutomationDelivery.objects.get(subscriber=ada)

    # A campaign's message (its own tag, another message id) that bounced
    receive(ses.delivery(mail=ses.mail(message_id="campaign-message", to=[ada.email], delivery_id=999999)))

    row.refresh_from_db()
    assert row.delivered_at is None


def test_the_copy_of_a_persons_data_lists_their_automations_and_the_emails_sent(active_series, topic):
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)
    automations_work()

    tables = access_export_tables(subscriber=ada)

    assert [(r["automation"], r["state"], r["step"]) for r in tables["automations"]] == [
        ("Welcome series", "In the automation", 3)
    ]
    assert [(r["email"], r["subject"], r["state"]) for r in tables["automation_emails_sent"]] == [
        ("Welcome 1", "Welcome 1, {{ first_name|friend }}", "Accepted by SES")
    ]


def test_erasure_removes_the_persons_runs_and_keeps_their_emails_results_without_them(active_series, topic):
    ada = ConfirmedSubscriberFactory(email="ada@mail.example")
    confirm(ada, topic)
    automations_work()

    record = subscriber_erase(subscriber=ada, source=ErasureSource.STAFF)

    assert not AutomationRun.objects.exists()
    row = AutomationDelivery.objects.get()
    assert (row.subscriber_id, row.run_id, row.state) == (None, None, DeliveryState.SENT)
    assert record.counts["automation_runs"] == 1 and record.counts["automation_deliveries"] == 1


def test_a_condition_step_keeps_only_the_people_its_segment_selects(topic, outbox):
    # Given an automation that continues only for people also subscribed to the Journal
    journal = TopicFactory(name="Journal", slug="journal")
    segment = segment_create(
        name="Journal readers", definition={"all": [{"field": "topic", "op": "subscribed", "value": "journal"}]}
    )
    automation = automation_create(name="Journal readers only", topic=topic, trigger="topic_confirmed")
    step_add(automation=automation, kind=StepKind.CONDITION, segment=segment)
    step_add(automation=automation, kind=StepKind.EMAIL, email=email_page(1))
    automation_activate(automation=automation)
    ada = ConfirmedSubscriberFactory(email="ada@mail.example", first_name="Ada")
    bea = ConfirmedSubscriberFactory(email="bea@mail.example", first_name="Bea")

    confirm(ada, journal)
    confirm(ada, topic)
    confirm(bea, topic)
    automations_work()

    assert len(outbox.to(ada.email)) == 1 and outbox.to(bea.email) == []
    assert AutomationRun.objects.get(subscriber=ada).state == RunState.FINISHED
    left = AutomationRun.objects.get(subscriber=bea)
    assert (left.state, left.left_reason) == (RunState.LEFT, LeftReason.SEGMENT)
