"""A send's rows by state, kept on the send once it has ended with no row open, and forgotten whenever the rows of an
ended send change: an SES event settling a row in doubt, a rejection after acceptance, staff sending rows again.

The sends are real: sent through the worker to the SES-compatible endpoint, with answers lost where rows must end in
doubt (the helpers of test_in_doubt).
"""

import re
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Delivery, DeliveryState, Send, SendState
from campaigns.sending.counts import send_counts_forget, send_state_counts
from campaigns.sending.in_doubt import deliveries_unconfirmed_resend
from campaigns.sending.selectors import send_progress, sends_recent
from campaigns.sending.services import send_create, send_start
from tests.campaigns import ses_events
from tests.campaigns.sending.test_in_doubt import (
    mail_of,
    sent_with_lost_answers,
    ses_reports,
    staff,
    time_passes,
    unknown_rows,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.SES_MAX_SEND_RATE = 1000


def ledger_counts(send: Send) -> dict[str, int]:
    return dict(Counter(Delivery.objects.filter(send=send).values_list("state", flat=True)))


def delivery_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if "campaigns_delivery" in q["sql"]]


def test_an_ended_send_is_counted_once_then_read_from_what_was_kept(campaign, ses_endpoint, settings):
    # Given a send of six that ended with two rows in doubt
    send = sent_with_lost_answers(campaign, people=6, lost={2, 5}, ses_endpoint=ses_endpoint, settings=settings)
    assert send.state == SendState.SENT
    assert send.state_counts is None

    # When its progress is read twice
    first = send_progress(send=send)
    with CaptureQueriesContext(connection) as second_read:
        second = send_progress(send=send)

    # Then the first read counted the ledger and kept the counts on the send; the second did not touch the ledger
    send.refresh_from_db()
    assert send.state_counts == ledger_counts(send) == {"sent": 4, "unknown": 2}
    assert delivery_queries(second_read.captured_queries) == []
    assert (first["sent"], first["unknown"], first["done"]) == (second["sent"], second["unknown"], second["done"])
    assert (second["sent"], second["unknown"], second["percent"]) == (4, 2, 100.0)


def test_an_ses_event_settling_a_row_in_doubt_is_seen_at_once_in_the_counts(campaign, ses_endpoint, settings):
    # Given an ended send whose counts are kept, with two rows in doubt
    send = sent_with_lost_answers(campaign, people=5, lost={1, 4}, ses_endpoint=ses_endpoint, settings=settings)
    send_progress(send=send)
    send.refresh_from_db()
    assert send.state_counts == {"sent": 3, "unknown": 2}
    in_doubt, rejected = unknown_rows(send)

    # When SES reports it had one of them, and rejected the other after accepting it
    ses_reports(ses_events.delivery(mail=mail_of(in_doubt, message_id="0100-late-delivery")))
    ses_reports(ses_events.reject(mail=mail_of(rejected, message_id="0100-late-reject")))

    # Then the kept counts were forgotten, and the next read counts again and keeps the new ones
    send.refresh_from_db()
    assert send.state_counts is None
    progress = send_progress(send=send)
    assert (progress["sent"], progress["unknown"], progress["failed"]) == (4, 0, 1)
    send.refresh_from_db()
    assert send.state_counts == ledger_counts(send) == {"sent": 4, "failed": 1}


def test_sending_rows_in_doubt_again_reopens_the_counts_and_they_follow_the_send_to_its_new_end(
    campaign, ses_endpoint, settings
):
    # Given an ended send with kept counts and two rows in doubt long enough to be sent again
    send = sent_with_lost_answers(campaign, people=4, lost={1, 2}, ses_endpoint=ses_endpoint, settings=settings)
    send_progress(send=send)
    time_passes(unknown_rows(send), minutes=settings.SEND_UNCONFIRMED_AFTER_MINUTES + 1)

    # When staff send them again
    deliveries_unconfirmed_resend(send=send, user=staff())

    # Then the kept counts are gone, and the reopened send is counted live: its two rows are queued again
    send.refresh_from_db()
    assert send.state == SendState.SENDING
    assert send.state_counts is None
    progress = send_progress(send=send)
    assert (progress["queued"], progress["sent"], progress["unknown"]) == (2, 2, 0)
    send.refresh_from_db()
    assert send.state_counts is None, "a send that has not ended keeps nothing"


def test_a_count_that_raced_a_change_is_not_kept(campaign, ses_endpoint, settings):
    # Given an ended send as a page loaded it (its ledger version read), whose rows then change before it is counted
    send = sent_with_lost_answers(campaign, people=3, lost={2}, ses_endpoint=ses_endpoint, settings=settings)
    loaded = Send.objects.get(pk=send.pk)
    Delivery.objects.filter(send=send, state=DeliveryState.UNKNOWN).update(state=DeliveryState.SENT)
    send_counts_forget(send_ids=[send.pk])

    # When the page counts with what it loaded
    counts = send_state_counts(sends=[loaded])

    # Then it shows the count it made (which saw the change), but nothing is kept under the old version
    assert counts[send.pk] == {"sent": 3}
    send.refresh_from_db()
    assert send.state_counts is None
    assert send.ledger_version == loaded.ledger_version + 1


def test_a_cancelled_send_with_a_row_still_open_keeps_nothing_until_it_is_settled(campaign, ses_endpoint, settings):
    # Given a cancelled send one of whose rows is still claimed by a worker (its call open)
    send = sent_with_lost_answers(campaign, people=3, lost=set(), ses_endpoint=ses_endpoint, settings=settings)
    Send.objects.filter(pk=send.pk).update(state=SendState.CANCELLED)
    row = Delivery.objects.filter(send=send).order_by("pk").first()
    Delivery.objects.filter(pk=row.pk).update(state=DeliveryState.CLAIMED)

    # When its progress is read, then the row is recorded and it is read again
    open_progress = send_progress(send=send)
    kept_while_open = Send.objects.get(pk=send.pk).state_counts
    Delivery.objects.filter(pk=row.pk).update(state=DeliveryState.SENT)
    settled = send_progress(send=send)

    # Then nothing was kept while a row was open; once none is, the counts are kept
    assert open_progress["in_flight"] == 1
    assert kept_while_open is None
    assert settled["sent"] == 3
    assert Send.objects.get(pk=send.pk).state_counts == {"sent": 3}


def test_the_recent_sends_count_only_the_sends_that_have_not_ended(campaign, ses_endpoint, settings):
    # Given an ended send whose counts are kept, and a send in progress
    ended = sent_with_lost_answers(campaign, people=3, lost=set(), ses_endpoint=ses_endpoint, settings=settings)
    send_progress(send=ended)
    going = send_start(send=send_create(page=campaign))

    # When the recent sends are listed
    with CaptureQueriesContext(connection) as listing:
        rows = dict((send.pk, progress) for send, progress in sends_recent())

    # Then one query counted the ledger, for the send in progress only
    counting = delivery_queries(listing.captured_queries)
    assert len(counting) == 1
    assert re.search(r'"send_id" IN \((\d+)\)', counting[0]).group(1) == str(going.pk)
    assert rows[ended.pk]["sent"] == 3
    assert rows[going.pk]["queued"] == going.deliveries.count()
