"""Withdrawals seen from two sessions (PostgreSQL's row locks): people leaving one list do not wait for each other, one
subscription withdrawn twice at once is withdrawn, announced and recorded once, and a one-click unsubscribe is
committed before it is answered."""

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction
from django.test import Client

from subscribers.links import unsubscribe_url
from subscribers.models import ConsentAction, ConsentEvent, ConsentSource, Subscription, SubscriptionStatus
from subscribers.services import subscription_withdraw
from tests.factories import SubscriptionFactory, TopicFactory
from webhooks.models import WebhookEvent
from webhooks.services import webhook_endpoint_create

pytestmark = [
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's row locks"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),  # brings back the rows migrations made
]


def _in_other_session(target, *, lock_timeout: str | None = None) -> tuple[threading.Thread, dict]:
    """Run ``target`` in a thread of its own (its own database session); what it returns or raises goes in the dict."""
    outcome = {}

    def run():
        try:
            with transaction.atomic():
                if lock_timeout:
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
                outcome["returned"] = target()
        except OperationalError as err:
            outcome["refused"] = str(err)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _withdraw_again(pk: int):
    """Load the subscription afresh in this session, as a second request would, and withdraw it."""
    return subscription_withdraw(subscription=Subscription.objects.get(pk=pk), source=ConsentSource.ONE_CLICK)


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        # Live (pg_stat_activity is read once per transaction), and only the sessions this one blocks: a parallel
        # run's other processes wait on locks of their own.
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
        )
        return cursor.fetchone()[0] > 0


def test_two_people_leaving_one_list_at_once_do_not_wait_for_each_other():
    # (No "general" fixture: a transactional test may run after another has emptied the tables.)
    topic = TopicFactory(slug="autumn")
    ann, bob = SubscriptionFactory(topic=topic), SubscriptionFactory(topic=topic)

    with transaction.atomic():
        subscription_withdraw(subscription=ann, source=ConsentSource.ONE_CLICK)
        # Ann's withdrawal is written, not committed: Bob leaves the same list in another session meanwhile
        thread, outcome = _in_other_session(lambda: _withdraw_again(bob.pk), lock_timeout="2s")
        thread.join(timeout=30)
        assert not thread.is_alive()

    assert "refused" not in outcome, "Bob's withdrawal waited for Ann's commit"
    assert set(Subscription.objects.values_list("status", flat=True)) == {SubscriptionStatus.UNSUBSCRIBED}
    assert ConsentEvent.objects.filter(action=ConsentAction.WITHDRAWN, topic=topic).count() == 2


def test_one_subscription_withdrawn_in_two_sessions_at_once_is_recorded_and_announced_once():
    webhook_endpoint_create(user=None, name="CRM", url="https://crm.example/in", events=["subscription.withdrawn"])
    ann = SubscriptionFactory(topic=TopicFactory(slug="autumn"))

    with transaction.atomic():
        subscription_withdraw(subscription=ann, source=ConsentSource.ONE_CLICK)
        # Not committed yet: the same link is clicked again, from another session, which must wait for this one
        thread, outcome = _in_other_session(lambda: _withdraw_again(ann.pk))
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waiting_on_a_lock(), "the second withdrawal did not wait for the first"
    thread.join(timeout=30)
    assert not thread.is_alive()

    # The second found it done: it returns the subscription as it is, and writes nothing
    assert outcome["returned"].status == SubscriptionStatus.UNSUBSCRIBED
    assert ConsentEvent.objects.filter(action=ConsentAction.WITHDRAWN).count() == 1
    assert WebhookEvent.objects.filter(type="subscription.withdrawn").count() == 1


def test_once_a_one_click_is_answered_another_session_sees_the_withdrawal_and_its_consent_event():
    subscription = SubscriptionFactory(topic=TopicFactory(slug="autumn"))
    path = unsubscribe_url(subscription=subscription).split("://", 1)[1].split("/", 1)[1]

    response = Client().post(f"/{path}", {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    # Read from another session, as a sending worker would: committed, not merely written
    withdrawals = ConsentEvent.objects.filter(subscriber_id=subscription.subscriber_id, action=ConsentAction.WITHDRAWN)
    thread, outcome = _in_other_session(
        lambda: (Subscription.objects.get(pk=subscription.pk).status, withdrawals.count())
    )
    thread.join(timeout=30)
    assert outcome["returned"] == (SubscriptionStatus.UNSUBSCRIBED, 1)
