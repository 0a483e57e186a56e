"""A worker's claims go on from its last row and come back to the front for rows put back behind it."""

import pytest

from campaigns.sending.claim_position import ClaimPosition
from campaigns.sending.services import delivery_claim_batch, delivery_release, send_create, send_start
from subscribers.models import Topic
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(campaign):
    general = Topic.objects.get(is_default=True)
    for _ in range(8):
        SubscriptionFactory(topic=general)
    return send_start(send=send_create(page=campaign))


def claimer(send, worker_id="w", size=3):
    return lambda after_id: delivery_claim_batch(send_id=send.pk, worker_id=worker_id, size=size, after_id=after_id)


def test_a_claim_after_a_row_takes_only_rows_after_it(send):
    everyone = sorted(send.deliveries.values_list("pk", flat=True))

    claimed = delivery_claim_batch(send_id=send.pk, worker_id="w", size=3, after_id=everyone[4])

    assert claimed == everyone[5:]
    assert delivery_claim_batch(send_id=send.pk, worker_id="w", size=3, after_id=everyone[-1]) == []


def test_a_worker_goes_on_from_its_last_claim_and_looks_at_the_front_when_nothing_is_left(send):
    everyone = sorted(send.deliveries.values_list("pk", flat=True))
    position, claim = ClaimPosition(), claimer(send)

    first = position.claim(claim)
    delivery_release(ids=[first[0]], worker_id="w")  # put back behind the position

    assert first == everyone[:3]
    assert position.claim(claim) == everyone[3:6], "goes on: the row put back is behind"
    assert position.claim(claim) == everyone[6:8]
    assert position.claim(claim) == [first[0]], "nothing after the position: the front is searched"
    assert position.after_id == everyone[-1], "the position stays ahead of the row found at the front"
    assert position.claim(claim) == []


def test_a_new_worker_starts_from_the_front(send):
    everyone = sorted(send.deliveries.values_list("pk", flat=True))
    claim = claimer(send)
    ClaimPosition().claim(claim)
    rest = ClaimPosition().claim(claim)
    delivery_release(ids=[everyone[0]], worker_id="w")  # given back by a worker that stopped

    assert rest == everyone[3:6]
    assert ClaimPosition().claim(claim) == [everyone[0], everyone[6], everyone[7]]


def test_workers_each_go_on_from_their_own_claims_and_never_share_a_row(send):
    everyone = sorted(send.deliveries.values_list("pk", flat=True))
    a, b = ClaimPosition(), ClaimPosition()

    taken = [a.claim(claimer(send, "a")), b.claim(claimer(send, "b")), a.claim(claimer(send, "a"))]

    assert taken == [everyone[:3], everyone[3:6], everyone[6:8]]
    assert a.claim(claimer(send, "a")) == [] and b.claim(claimer(send, "b")) == []
