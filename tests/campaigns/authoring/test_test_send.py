"""Delivering a campaign test: SES refusing for now leaves exactly the addresses not yet sent to try again."""

from collections import Counter

import pytest

from campaigns.authoring.test_send import TestSendInterrupted, campaign_test_deliver
from tests.faulty_ses import FaultPlan, FaultySes

pytestmark = pytest.mark.django_db

ADDRESSES = ["ana@example.com", "ben@example.com", "cat@example.com"]


def test_a_throttled_test_send_hands_back_only_the_addresses_not_yet_sent(campaign, outbox, ses_endpoint, settings):
    # Given SES that throttles the second call
    plan = FaultPlan(throttle_every=0, error_every=0, slow_every=0, drop_calls=set(), throttle_calls={2})
    with FaultySes(ses_endpoint, plan) as faulty:
        settings.SES_ENDPOINT_URL = faulty

        # When a test goes to three addresses
        with pytest.raises(TestSendInterrupted) as interrupted:
            campaign_test_deliver(page_id=campaign.pk, addresses=ADDRESSES)

        # Then the first was sent and the other two are handed back, the refused one first
        assert interrupted.value.remaining == ADDRESSES[1:]
        assert [m.to for m in outbox.all()] == [[ADDRESSES[0]]]

        # And trying those again reaches them, with nobody mailed twice
        assert campaign_test_deliver(page_id=campaign.pk, addresses=interrupted.value.remaining) == 2
    settings.SES_ENDPOINT_URL = ses_endpoint
    received = Counter(address for message in outbox.all() for address in message.to)
    assert received == Counter(ADDRESSES)
    assert all(message.subject.startswith("[TEST]") for message in outbox.all())
