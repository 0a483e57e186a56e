"""Sending through an SES endpoint that throttles, fails, answers slowly and loses an answer."""

import time
from collections import Counter

import pytest

from campaigns.models import DeliveryState, Send, SendState
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from mailer import ses
from subscribers.models import Topic
from tests.factories import SubscriptionFactory
from tests.faulty_ses import FaultPlan, FaultySes

pytestmark = pytest.mark.django_db


def test_nothing_is_lost_nothing_is_sent_twice_and_the_lost_answer_ends_unknown(
    campaign, outbox, ses_endpoint, settings
):
    # Given 60 subscribers and an endpoint that throttles 10%, fails 5%, is slow at times and loses one answer
    settings.SES_MAX_SEND_RATE = 1000
    general = Topic.objects.get(is_default=True)
    addresses = [SubscriptionFactory(topic=general).subscriber.email for _ in range(60)]
    plan = FaultPlan()
    with FaultySes(ses_endpoint, plan) as faulty:
        settings.SES_ENDPOINT_URL = faulty
        ses._cached_client.cache_clear()
        send = send_start(send=send_create(page=campaign))

        # When workers keep at it (rows refused for now come back after their backoff)
        deadline = time.monotonic() + 90
        while Send.objects.get(pk=send.pk).state != SendState.SENT:
            assert time.monotonic() < deadline, Counter(send.deliveries.values_list("state", flat=True))
            send_work(send_id=send.pk)
            time.sleep(0.2)
    settings.SES_ENDPOINT_URL = ses_endpoint
    ses._cached_client.cache_clear()

    # Then every fault happened, and each recipient got at most one message
    assert plan.counts["throttled"] >= 5 and plan.counts["errors"] >= 2 and plan.counts["dropped"] == 1
    received = Counter(a for m in outbox.all() for a in m.to)
    assert max(received.values()) == 1
    states = Counter(send.deliveries.values_list("state", flat=True))
    assert states == {DeliveryState.SENT: 59, DeliveryState.UNKNOWN: 1}
    # The lost answer was accepted by SES: its recipient got the message once, and the row is in doubt, not re-sent
    unknown = send.deliveries.get(state=DeliveryState.UNKNOWN)
    assert received[unknown.subscriber.email] == 1
    assert sum(received[a] for a in addresses) == 60, "nothing lost"
