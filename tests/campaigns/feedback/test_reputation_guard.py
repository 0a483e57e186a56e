"""The reputation guard judges every bounce of a burst: a burst schedules one check a few seconds later, which
counts all of it, and an event after that check schedules the next. (Before, the first event of a burst was
judged and the rest were dropped until the minute sweep, so a send ran on over the limit.)"""

from datetime import datetime, timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from campaigns.feedback.events import feedback_process, feedback_receive
from campaigns.feedback.reputation import REASON_PREFIX
from campaigns.models import Delivery, DeliveryState, Send, SendState
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from campaigns.tasks import reputation_guard_task
from tests.campaigns import ses_events as ses
from tests.celery_workers import queued_tasks
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

SENT = 10


@pytest.fixture
def mid_send(campaign, outbox, settings):
    """Ten messages accepted by SES in an earlier send, and a second send of the campaign now running.

    The guard judges from ten messages, at a 25% hard-bounce limit: two bounces are within it, three cross it.
    """
    settings.SES_MAX_SEND_RATE = 1000
    settings.REPUTATION_MIN_SENT = SENT
    settings.REPUTATION_BOUNCE_LIMIT = 0.25
    settings.REPUTATION_CHECK_SECONDS = 2
    for _ in range(SENT):
        SubscriptionFactory()
    earlier = send_start(send=send_create(page=campaign))
    send_work(send_id=earlier.pk)
    Send.objects.filter(pk=earlier.pk).update(state=SendState.SENT)
    rows = list(Delivery.objects.filter(send=earlier, state=DeliveryState.SENT).select_related("subscriber"))
    assert len(rows) == SENT
    running = send_start(send=send_create(page=campaign))
    assert running.state == SendState.SENDING
    return running, rows


def hard_bounce_processed(row: Delivery) -> None:
    """One hard bounce of an earlier message, received from SNS and processed as the feedback task does."""
    stored = feedback_receive(sns_message=ses.sns_notification(ses.hard_bounce_of(row)))
    # The test's transaction never commits: run what feedback_process leaves for after its commit.
    with TestCase.captureOnCommitCallbacks(execute=True):
        feedback_process(event_id=stored.pk)


def state_of(send: Send) -> str:
    return Send.objects.get(pk=send.pk).state


def test_every_bounce_of_a_burst_is_judged_and_the_one_that_crosses_the_limit_pauses_the_send(mid_send):
    running, rows = mid_send

    # When three hard bounces arrive one after another, well within REPUTATION_CHECK_SECONDS
    hard_bounce_processed(rows[0])
    hard_bounce_processed(rows[1])
    assert state_of(running) == SendState.SENDING, "two bounces in ten sent are within the 25% limit"
    hard_bounce_processed(rows[2])

    # Then the third, which crosses the limit, is judged too (tasks run inline here, the countdown included)
    running.refresh_from_db()
    assert running.state == SendState.PAUSED
    assert running.pause_reason.startswith(REASON_PREFIX) and "hard-bounce rate 30.0%" in running.pause_reason


def test_a_burst_schedules_one_check_on_the_feedback_queue_which_counts_every_event_of_it(mid_send, broker_tasks):
    running, rows = mid_send

    # When a burst of three hard bounces is processed, tasks going through Redis as in production
    before = timezone.now()
    for row in rows[:3]:
        hard_bounce_processed(row)
    after = timezone.now()

    # Then one check waits on the feedback queue, due REPUTATION_CHECK_SECONDS after the first bounce
    checks = queued_tasks("feedback")
    assert [c["task"] for c in checks] == ["campaigns.tasks.reputation_guard_task"]
    due = datetime.fromisoformat(checks[0]["eta"])
    assert before + timedelta(seconds=2) <= due <= after + timedelta(seconds=2)
    assert state_of(running) == SendState.SENDING

    # When the feedback worker runs it, it counts all three and pauses the send
    reputation_guard_task.apply()
    running.refresh_from_db()
    assert running.state == SendState.PAUSED and "hard-bounce rate 30.0%" in running.pause_reason

    # And a bounce after the check schedules a check of its own
    hard_bounce_processed(rows[3])
    assert [c["task"] for c in queued_tasks("feedback")] == ["campaigns.tasks.reputation_guard_task"] * 2
