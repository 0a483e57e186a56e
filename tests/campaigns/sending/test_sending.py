"""The sending pipeline's services and worker loop, against moto's SES server over HTTP."""

import itertools
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from campaigns.models import Delivery, DeliveryState, Send, SendState
from campaigns.sending.audience import audience_summary
from campaigns.sending.services import (
    Outcome,
    SendStateError,
    deliveries_attempting,
    deliveries_lease_renew,
    deliveries_record,
    deliveries_sweep,
    delivery_claim_batch,
    send_audience_continue,
    send_cancel,
    send_create,
    send_pause,
    send_resume,
    send_start,
)
from campaigns.sending.worker import send_work
from mailer import ses
from subscribers.links import unsubscribe_url
from subscribers.models import ConsentSource, SubscriptionStatus, SuppressionReason, SuppressionScope, Topic
from subscribers.services import subscription_withdraw, suppression_add
from tests.factories import SubscriptionFactory, TopicFactory
from tests.faulty_ses import FaultPlan, FaultySes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_rate(settings):
    settings.SES_MAX_SEND_RATE = 1000


@pytest.fixture
def audience(campaign):
    """Five who may be mailed, and one of each kind who may not."""
    general = Topic.objects.get(is_default=True)
    eligible = [SubscriptionFactory(topic=general) for _ in range(5)]
    SubscriptionFactory(topic=TopicFactory(), subscriber=eligible[0].subscriber)  # a second topic: still one email
    excluded = {
        "pending": SubscriptionFactory(topic=general, status=SubscriptionStatus.PENDING),
        "unsubscribed": SubscriptionFactory(topic=general, status=SubscriptionStatus.UNSUBSCRIBED),
        "bounced": SubscriptionFactory(topic=general),
        "complained": SubscriptionFactory(topic=general),
    }
    suppression_add(
        email=excluded["bounced"].subscriber.email, scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE
    )
    suppression_add(
        email=excluded["complained"].subscriber.email,
        scope=SuppressionScope.MARKETING,
        reason=SuppressionReason.COMPLAINT,
    )
    return eligible, excluded


def started(campaign) -> Send:
    return send_start(send=send_create(page=campaign))


def test_the_confirmation_counts_who_is_left_out_and_why(campaign, audience):
    summary = audience_summary(topic_ids=[t.pk for t in campaign.topics.all()])

    assert summary["eligible"] == 5
    assert summary["excluded"]["pending confirmation"] == 1
    assert summary["excluded"]["unsubscribed"] == 1
    assert summary["excluded"]["bounced"] == 1
    assert summary["excluded"]["complained"] == 1


def test_starting_snapshots_exactly_the_eligible_audience_once(campaign, audience):
    eligible, _ = audience

    send = started(campaign)

    assert send.state == SendState.SENDING and send.total == 5
    assert set(send.deliveries.values_list("subscriber_id", flat=True)) == {s.subscriber_id for s in eligible}
    assert send.html_source and "{{unsubscribe_url}}" in send.html_source.replace("%20", "").replace(" ", "")


def test_starting_twice_creates_nothing_more_and_a_second_send_of_the_same_campaign_is_refused(campaign, audience):
    send = started(campaign)

    again = send_start(send=send)

    assert again.state == SendState.SENDING and Delivery.objects.count() == 5
    with pytest.raises(SendStateError, match="already being sent"):
        send_start(send=send_create(page=campaign))
    assert Send.objects.filter(state=SendState.SENDING).count() == 1


def test_a_campaign_failing_its_checks_cannot_start(campaign, audience):
    campaign.subject = "{{ first_name }}"  # empty for readers without a name
    campaign.save_revision().publish()

    with pytest.raises(SendStateError, match="Subject"):
        send_start(send=send_create(page=campaign))
    assert not Delivery.objects.exists()


def test_the_worker_sends_each_eligible_recipient_exactly_one_message(campaign, audience, outbox):
    eligible, _ = audience
    send = started(campaign)

    accepted = send_work(send_id=send.pk)

    assert accepted == 5
    per_recipient = Counter(address for m in outbox.all() for address in m.to)
    assert per_recipient == Counter({s.subscriber.email: 1 for s in eligible})
    send.refresh_from_db()
    assert send.state == SendState.SENT and send.finished_at
    assert set(send.deliveries.values_list("state", flat=True)) == {DeliveryState.SENT}
    assert all(send.deliveries.values_list("ses_message_id", flat=True))
    message = outbox.last_to(eligible[0].subscriber.email)
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_someone_who_unsubscribes_during_the_send_is_skipped(campaign, audience, outbox):
    eligible, _ = audience
    send = started(campaign)
    subscription_withdraw(subscription=eligible[2], source=ConsentSource.ONE_CLICK)

    send_work(send_id=send.pk)

    row = send.deliveries.get(subscriber=eligible[2].subscriber)
    assert (row.state, row.reason) == (DeliveryState.SKIPPED, "unsubscribed before sending")
    assert outbox.to(eligible[2].subscriber.email) == []
    assert len(outbox.all()) == 4


def test_one_click_unsubscribes_answered_before_a_send_starts_or_claims_keep_those_people_out(
    campaign, audience, outbox
):
    # Given one person who clicked the mailbox's unsubscribe button before the send started
    eligible, _ = audience
    one_click = Client(enforce_csrf_checks=True)
    unsubscribe = {"List-Unsubscribe": "One-Click"}
    assert one_click.post(_path(unsubscribe_url(subscription=eligible[1])), unsubscribe).status_code == 200

    # And one who clicked it once the send had started, before a worker claimed them
    send = started(campaign)
    assert one_click.post(_path(unsubscribe_url(subscription=eligible[3])), unsubscribe).status_code == 200
    send_work(send_id=send.pk)

    # Then neither receives it: the first was never in the audience, the second was skipped when claimed
    assert not send.deliveries.filter(subscriber=eligible[1].subscriber).exists()
    row = send.deliveries.get(subscriber=eligible[3].subscriber)
    assert (row.state, row.reason) == (DeliveryState.SKIPPED, "unsubscribed before sending")
    assert outbox.to(eligible[1].subscriber.email) == outbox.to(eligible[3].subscriber.email) == []
    assert len(outbox.all()) == 3


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_pause_stops_the_workers_and_resume_finishes_the_send(campaign, audience, outbox):
    send = started(campaign)

    send_pause(send=send)
    assert send_work(send_id=send.pk) == 0
    assert send.deliveries.filter(state=DeliveryState.QUEUED).count() == 5

    send_resume(send=send)
    assert send_work(send_id=send.pk) == 5
    send.refresh_from_db()
    assert send.state == SendState.SENT


def test_a_pause_between_claim_and_mark_gives_back_the_group_it_refused_so_a_resume_sends_it_at_once(
    campaign, audience, outbox
):
    from campaigns.sending.worker import _SendWorker

    # Given thirty people, and a worker that has claimed them and is about to mark its next group
    general = Topic.objects.get(is_default=True)
    for _ in range(25):
        SubscriptionFactory(topic=general)
    send = started(campaign)
    worker = _SendWorker(send=send, worker_id="worker-a")
    assert worker._claim()
    eligible = len(worker.waiting)

    # When the send is paused before the mark, and the worker then tries the group and leaves as it does
    send_pause(send=send)
    assert worker._send_group() is True, "the worker stops: the mark saw the pause"
    worker._settle()
    worker.calls.close()

    # Then no row is left claimed by it: all the eligible ones are back in the queue, none attempted
    assert not send.deliveries.filter(state=DeliveryState.CLAIMED).exists()
    assert send.deliveries.filter(state=DeliveryState.QUEUED, attempted_at__isnull=True).count() == eligible == 30
    assert outbox.all() == []

    # And a resume sends every one of them at once, not after their lease
    send_resume(send=send)
    assert send_work(send_id=send.pk) == eligible
    send.refresh_from_db()
    assert send.state == SendState.SENT


def test_pause_resume_and_cancel_record_who_did_them_and_a_repeat_records_nothing(campaign, audience):
    from campaigns.models import SendAction, SendEvent
    from tests.factories import SENDERS, staff_in_role

    marketer = staff_in_role(SENDERS, "marketer@larkspur-lune.example")
    send = started(campaign)

    send_pause(send=send, user=marketer)
    send_pause(send=send, user=marketer)  # already paused: nothing happens, nothing is recorded
    send_resume(send=send, user=marketer)
    send_pause(send=send, reason="Paused by the reputation guard: too many bounces")
    send_cancel(send=send, user=marketer)

    history = [(e.action, e.user, e.detail) for e in SendEvent.objects.filter(send=send)]
    assert history == [
        (SendAction.PAUSED, marketer, ""),
        (SendAction.RESUMED, marketer, ""),
        (SendAction.PAUSED, None, "Paused by the reputation guard: too many bounces"),
        (SendAction.CANCELLED, marketer, ""),
    ]


def test_cancel_skips_every_row_not_yet_sent(campaign, audience, outbox):
    send = started(campaign)

    send_cancel(send=send)

    assert send_work(send_id=send.pk) == 0
    assert set(send.deliveries.values_list("state", flat=True)) == {DeliveryState.SKIPPED}
    assert outbox.all() == []


def test_a_rejected_message_fails_with_the_reason_and_is_not_retried(campaign, audience, outbox, settings):
    campaign.sender = "Someone <someone@unverified.example>"
    settings.CAMPAIGN_SENDERS = [*settings.CAMPAIGN_SENDERS, campaign.sender]
    campaign.save_revision().publish()
    send = started(campaign)

    send_work(send_id=send.pk)

    assert set(send.deliveries.values_list("state", flat=True)) == {DeliveryState.FAILED}
    assert "MessageRejected" in send.deliveries.first().reason
    send.refresh_from_db()
    assert send.state == SendState.SENT, "every row is final"


def test_an_unreachable_ses_puts_rows_back_with_backoff_and_nothing_is_lost(campaign, audience, outbox, settings):
    send = started(campaign)
    settings.SEND_RETRY_WAIT_SECONDS = 0  # the worker leaves rows in backoff to a later wake-up
    settings.SES_ENDPOINT_URL = "http://127.0.0.1:9"
    ses._cached_client.cache_clear()

    send_work(send_id=send.pk)

    rows = list(send.deliveries.all())
    assert {r.state for r in rows} == {DeliveryState.QUEUED}
    assert all(r.attempts == 1 and r.not_before > timezone.now() and r.attempted_at is None for r in rows)
    send.refresh_from_db()
    assert send.state == SendState.SENDING


def test_rows_held_by_a_lost_worker_are_requeued_unless_attempted_which_become_unknown(campaign, audience):
    send = started(campaign)
    ids = delivery_claim_batch(send_id=send.pk, worker_id="lost-worker", size=3)
    Delivery.objects.filter(pk=ids[0]).update(attempted_at=timezone.now())  # it died during this SES call
    Delivery.objects.filter(pk__in=ids).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    result = deliveries_sweep()

    assert result == {"requeued": 2, "unknown": 1}
    assert Delivery.objects.get(pk=ids[0]).state == DeliveryState.UNKNOWN
    assert Delivery.objects.filter(state=DeliveryState.QUEUED).count() == 4


def test_a_window_is_marked_attempting_only_while_the_send_is_sending(campaign, audience):
    send = started(campaign)
    ids = delivery_claim_batch(send_id=send.pk, worker_id="w", size=5)

    assert deliveries_attempting(send_id=send.pk, worker_id="w", ids=ids[:2]) == ids[:2]
    send_pause(send=send)
    assert deliveries_attempting(send_id=send.pk, worker_id="w", ids=ids[2:]) == []

    marked = set(Delivery.objects.filter(attempted_at__isnull=False).values_list("pk", flat=True))
    assert marked == set(ids[:2])


def test_rows_whose_lease_was_taken_back_are_not_marked_and_a_renewed_lease_is_kept(campaign, audience):
    send = started(campaign)
    slow = delivery_claim_batch(send_id=send.pk, worker_id="slow", size=5)
    expire = Delivery.objects.filter(pk__in=slow[:2])
    expire.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert deliveries_lease_renew(send_id=send.pk, worker_id="slow") == 5
    assert deliveries_sweep() == {"requeued": 0, "unknown": 0}, "a renewed lease is kept"
    expire.update(lease_expires_at=timezone.now() - timedelta(seconds=1))  # the worker stalled past its lease
    assert deliveries_sweep() == {"requeued": 2, "unknown": 0}
    taken = delivery_claim_batch(send_id=send.pk, worker_id="other", size=2)

    marked = deliveries_attempting(send_id=send.pk, worker_id="slow", ids=slow)

    assert taken == slow[:2]
    assert marked == slow[2:], "the slow worker must not send rows another worker now holds"
    assert not Delivery.objects.filter(pk__in=taken, attempted_at__isnull=False).exists()


def test_a_window_of_outcomes_is_written_in_one_go_each_row_with_its_own(campaign, audience):
    send = started(campaign)
    ids = delivery_claim_batch(send_id=send.pk, worker_id="w", size=5)
    deliveries_attempting(send_id=send.pk, worker_id="w", ids=ids)

    deliveries_record(
        outcomes=[
            Outcome(ids[0], DeliveryState.SENT, ses_message_id="m-0"),
            Outcome(ids[1], DeliveryState.SENT, ses_message_id="m-1"),
            Outcome(ids[2], DeliveryState.FAILED, reason="SES rejected the message (BadRequestException): no"),
            Outcome(ids[3], DeliveryState.UNKNOWN, reason="No answer from SES after sending"),
            Outcome(ids[4], DeliveryState.QUEUED, reason="SES is busy", attempts=2),
        ]
    )

    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=ids)}
    assert [(rows[i].state, rows[i].ses_message_id) for i in ids[:2]] == [("sent", "m-0"), ("sent", "m-1")]
    assert rows[ids[2]].state == DeliveryState.FAILED and "BadRequestException" in rows[ids[2]].reason
    assert rows[ids[3]].state == DeliveryState.UNKNOWN and rows[ids[3]].ses_message_id == ""
    assert all(rows[i].finished_at and rows[i].lease_expires_at is None for i in ids[:4])
    retried = rows[ids[4]]
    assert (retried.state, retried.attempts, retried.attempted_at) == (DeliveryState.QUEUED, 3, None)
    wait = retried.not_before - timezone.now()
    assert timedelta(seconds=1.5) < wait <= timedelta(seconds=4), "half to all of 2**2 s after two attempts"


def test_claims_never_overlap(campaign, audience):
    send = started(campaign)

    first = delivery_claim_batch(send_id=send.pk, worker_id="a", size=3)
    second = delivery_claim_batch(send_id=send.pk, worker_id="b", size=3)

    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)
    assert first == sorted(first) and max(first) < min(second), "keyset order"


def test_an_erased_subscriber_is_skipped(campaign, audience):
    eligible, _ = audience
    send = started(campaign)
    eligible[1].subscriber.delete()

    send_work(send_id=send.pk)

    assert send.deliveries.filter(state=DeliveryState.SKIPPED, reason="recipient erased").count() == 1


def test_a_campaign_never_published_cannot_be_sent(campaign):
    from campaigns.authoring.demo_content import campaign_index
    from campaigns.models import CampaignPage

    draft = CampaignPage(
        title="Draft only", slug="draft-only", subject="Hi", sender=campaign.sender, body=campaign.body.raw_data
    )
    campaign_index().add_child(instance=draft)
    draft.save_revision()  # saved, never published

    with pytest.raises(SendStateError, match="Publish"):
        send_create(page=draft)


def test_a_scheduled_send_that_cannot_start_goes_back_to_draft_with_the_reason(campaign, audience):
    from campaigns.sending.services import sends_sweep

    scheduled = send_create(page=campaign)
    Send.objects.filter(pk=scheduled.pk).update(
        state=SendState.SCHEDULED, scheduled_for=timezone.now() - timedelta(minutes=1)
    )
    campaign.subject = "{{ first_name }}"  # now fails its checks
    campaign.save_revision().publish()
    Send.objects.filter(pk=scheduled.pk).update(revision=campaign.get_latest_revision())

    sends_sweep()

    scheduled.refresh_from_db()
    assert scheduled.state == SendState.DRAFT
    assert scheduled.pause_reason.startswith("Did not start at the scheduled time")
    assert not Delivery.objects.exists()


def test_a_large_audience_is_written_in_chunks_and_the_send_finishes_only_after_the_last(
    campaign, audience, outbox, settings
):
    settings.SEND_SNAPSHOT_CHUNK = 2
    eligible, _ = audience

    send = started(campaign)
    assert (send.total, send.audience_complete) == (2, False), "the first chunk only: sending can start"
    send_work(send_id=send.pk)
    send.refresh_from_db()
    assert send.state == SendState.SENDING, "not sent while the audience is still being written"

    assert send_audience_continue(send_id=send.pk) == 3
    assert send_audience_continue(send_id=send.pk) == 0, "a second run writes nothing twice"
    send_work(send_id=send.pk)

    send.refresh_from_db()
    assert (send.total, send.audience_complete, send.state) == (5, True, SendState.SENT)
    received = Counter(a for m in outbox.all() for a in m.to)
    assert received == Counter(s.subscriber.email for s in eligible)


def test_a_frozen_segment_that_names_something_gone_pauses_the_send_with_why_and_fails_nothing_each_minute(
    campaign, audience, settings
):
    # Given a large send half written, whose copy of its segment names a topic renamed since it started, among
    # many topics
    settings.SEND_SNAPSHOT_CHUNK = 2
    for n in range(20):
        TopicFactory(slug=f"a-topic-with-a-long-slug-{n}", name=f"A topic with a long slug {n}")
    send = started(campaign)
    Send.objects.filter(pk=send.pk).update(
        segment_definition={"all": [{"field": "topic", "op": "not_subscribed", "value": "retired-topic"}]}
    )

    # When the rest of its audience is taken up (as the sweep does every minute), twice
    assert send_audience_continue(send_id=send.pk) == 0
    assert send_audience_continue(send_id=send.pk) == 0

    # Then the send is paused, saying what to do and why (however many topics there are to list), with the rows
    # written so far and no more
    send.refresh_from_db()
    assert (send.state, send.total, send.audience_complete) == (SendState.PAUSED, 2, False)
    assert send.pause_reason == (
        "The segment's conditions can no longer be read: cancel the send, or put the name back and resume "
        "(unknown topic 'retired-topic')"
    )
    assert Delivery.objects.filter(send=send).count() == 2


def test_the_first_chunk_written_with_the_start_is_the_smaller_one_and_the_rest_follows(
    campaign, audience, settings
):
    settings.SEND_SNAPSHOT_FIRST_CHUNK, settings.SEND_SNAPSHOT_CHUNK = 1, 3

    send = started(campaign)
    assert (send.total, send.audience_complete) == (1, False), "one row before the first message"

    assert send_audience_continue(send_id=send.pk) == 4, "the other four in chunks of three"
    send.refresh_from_db()
    assert (send.total, send.audience_complete) == (5, True)
    assert Delivery.objects.filter(send=send).values("subscriber_id").distinct().count() == 5


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_the_rest_of_a_large_audience_starts_by_telling_the_planner_of_the_first_chunk(campaign, audience, settings):
    from django.db import connection

    def rows_the_planner_knows() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'campaigns_delivery'")
            return cursor.fetchone()[0]

    settings.SEND_SNAPSHOT_FIRST_CHUNK, settings.SEND_SNAPSHOT_CHUNK = 2, 3
    send = started(campaign)
    in_the_table = Delivery.objects.count()
    assert rows_the_planner_knows() != in_the_table, "the start itself does not analyze (its first message waits)"

    send_audience_continue(send_id=send.pk)

    assert rows_the_planner_knows() == in_the_table, "analyzed with the first chunk in, before the rest"


def test_a_chunked_snapshot_writes_exactly_what_one_statement_writes(campaign, audience, settings):
    settings.SEND_SNAPSHOT_CHUNK = 2
    chunked = started(campaign)
    send_audience_continue(send_id=chunked.pk)
    Send.objects.filter(pk=chunked.pk).update(state=SendState.SENT)
    settings.SEND_SNAPSHOT_CHUNK = 1000
    whole = started(campaign)

    def recipients(send):
        return sorted(Delivery.objects.filter(send=send).values_list("subscriber_id", "subscription_id"))

    assert recipients(chunked) == recipients(whole) and len(recipients(whole)) == 5


def test_cancelling_stops_the_rest_of_the_audience_being_written(campaign, audience, settings):
    settings.SEND_SNAPSHOT_CHUNK = 2
    send = started(campaign)

    send_cancel(send=send)
    assert send_audience_continue(send_id=send.pk) == 0

    send.refresh_from_db()
    assert (send.total, send.audience_complete) == (2, True)
    assert Delivery.objects.filter(send=send).count() == 2


@pytest.mark.parametrize(
    ("rate", "concurrency", "group"),
    [(1000, 4, 4), (1000, 16, 5), (1000, 1, 1), (50, 4, 1), (400, 4, 2)],
)
def test_rows_are_marked_together_only_when_their_slots_are_milliseconds_apart_and_never_more_than_calls_open(
    campaign, audience, settings, rate, concurrency, group
):
    from campaigns.sending.worker import _SendWorker

    settings.SES_MAX_SEND_RATE, settings.SEND_CONCURRENCY = rate, concurrency
    worker = _SendWorker(send=started(campaign), worker_id="w")
    try:
        assert worker.group_size == group
        assert worker.calls.concurrency == concurrency
    finally:
        worker.calls.close()


def test_slots_are_taken_a_group_at_a_time_without_sleeping_and_the_next_group_waits_for_the_lead(settings):
    from campaigns.sending.worker import SLOT_LEAD_SECONDS, SendSlots
    from mailer.throttle import SendRateLimiter

    # Given a rate of 100 a second (a slot every 10 ms)
    limiter = SendRateLimiter(account="slots-test", rate_per_second=100)
    limiter.client.delete(limiter.key)
    slots = SendSlots(limiter)

    # When a group of twenty is taken
    before = time.monotonic()
    first = slots.take(20)
    taken_in = time.monotonic() - before

    # Then the call returned at once with twenty consecutive moments 10 ms apart, reaching 190 ms ahead
    assert taken_in < 0.1, "taking slots never sleeps: the calls sleep to their own slot"
    assert [round(b - a, 3) for a, b in itertools.pairwise(first)] == [0.01] * 19
    assert first[-1] - first[0] == pytest.approx(0.19, abs=0.002)

    # And the worker waits before its next group until the last slot is no more than the lead ahead
    slots.wait_for_lead()
    assert first[-1] - time.monotonic() <= SLOT_LEAD_SECONDS + 0.005
    assert time.monotonic() - before >= 0.19 - SLOT_LEAD_SECONDS - 0.01

    # And the next group continues where the first ended, never overlapping it
    second = slots.take(1)
    assert second[0] - first[-1] > 0.005, "at least half a slot after the last one (the clocks are read a moment apart)"


def test_a_worker_keeps_its_calls_open_at_once_and_never_more(campaign, audience, outbox, settings):
    # Given four calls at a time, each answered 0.3 s late
    settings.SEND_CONCURRENCY = 4
    plan = FaultPlan(throttle_every=0, error_every=0, slow_every=1, slow_seconds=0.3, drop_calls=set())
    with FaultySes(settings.SES_ENDPOINT_URL, plan) as faulty:
        settings.SES_ENDPOINT_URL = faulty
        ses._cached_client.cache_clear()
        send = started(campaign)

        # When the worker sends the five eligible rows
        assert send_work(send_id=send.pk) == 5

    # Then four calls were open together, not one after another, and never a fifth
    assert plan.counts["most_open"] == 4


def test_rows_refused_for_now_are_sent_when_their_backoff_passes_by_the_same_worker(
    campaign, audience, outbox, settings
):
    # Given an endpoint that throttles the first two calls
    plan = FaultPlan(throttle_calls={1, 2}, throttle_every=0, error_every=0, slow_every=0, drop_calls=set())
    with FaultySes(settings.SES_ENDPOINT_URL, plan) as faulty:
        settings.SES_ENDPOINT_URL = faulty
        ses._cached_client.cache_clear()
        send = started(campaign)

        # When one worker runs (there is no sweeper here to wake another)
        accepted = send_work(send_id=send.pk)

    # Then it waited out the backoff and sent both, once each
    assert plan.counts["throttled"] == 2
    assert accepted == 5
    assert Counter(send.deliveries.values_list("state", flat=True)) == {DeliveryState.SENT: 5}
    assert Counter(a for m in outbox.all() for a in m.to).most_common(1)[0][1] == 1
    send.refresh_from_db()
    assert send.state == SendState.SENT


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the worker's answer comes from another thread
def test_cancel_leaves_no_row_queued_or_claimed_and_waits_for_the_calls_already_open(campaign, audience, settings):
    # Given a worker (played by the test: none is woken) holding a batch, one row's SES call open, the rest not yet
    # attempted
    settings.SEND_WORKERS_PER_SEND = 0
    send = started(campaign)
    ids = delivery_claim_batch(send_id=send.pk, worker_id="w", size=3)
    deliveries_attempting(send_id=send.pk, worker_id="w", ids=ids[:1])

    def answer_arrives():
        time.sleep(0.3)
        deliveries_record(outcomes=[Outcome(ids[0], DeliveryState.SENT, ses_message_id="m-0")])
        connection.close()

    recorder = threading.Thread(target=answer_arrives)
    recorder.start()

    # When staff cancel
    send_cancel(send=send)
    recorder.join()

    # Then the open call's answer was waited for, and everything else is skipped
    states = Counter(send.deliveries.values_list("state", flat=True))
    assert states == {DeliveryState.SENT: 1, DeliveryState.SKIPPED: 4}
    assert send.state == SendState.CANCELLED


def test_a_worker_process_prepares_links_and_the_ses_client_when_it_starts(settings):
    from celery import signals

    import campaigns.tasks  # noqa: F401 - a worker imports its tasks, which connect the handler
    from mailer import ses
    from subscribers import links

    links._around_token.cache_clear()
    ses._send_email_client_for.cache_clear()

    signals.worker_process_init.send(sender=None)

    assert links._around_token.cache_info().currsize == 3
    assert ses._send_email_client_for.cache_info().currsize == 1
