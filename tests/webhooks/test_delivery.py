"""Delivery from the ledger, in this process: retries after the documented waits, then giving up; order per
subscriber across a failure; nothing for a change that rolled back; the five-day disable; private addresses."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from subscribers.models import Subscriber
from subscribers.services import subscriber_get_or_create
from tests.factories import SubscriberFactory, UserFactory
from webhooks.delivery import webhook_deliveries_run, webhook_endpoints_disable_failing, webhooks_sweep
from webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.publishing import webhook_event_publish

pytestmark = pytest.mark.django_db

SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


def _all_due_now() -> None:
    """Skip the waits: every pending delivery is due (the test drives time instead of sleeping)."""
    WebhookDelivery.objects.filter(state=DeliveryState.PENDING).update(next_attempt_at=timezone.now())


def test_the_retry_schedule_is_5s_5min_30min_2h_5h_10h_10h_and_eight_attempts_in_all_then_failed(
    receiver, endpoint_for
):
    assert [float(s) for s in SCHEDULE] == list(__import__("django.conf").conf.settings.WEBHOOK_RETRY_SCHEDULE)
    receiver.plan = lambda n: (500, 0)
    endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")
    delivery = WebhookDelivery.objects.get()

    waits = []
    for _ in range(8):
        webhook_deliveries_run()
        delivery.refresh_from_db()
        if delivery.state == DeliveryState.PENDING:
            last = delivery.attempt_rows.first()
            waits.append(round((delivery.next_attempt_at - last.at).total_seconds()))
            _all_due_now()

    assert waits == SCHEDULE
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempts == 8 == len(receiver.requests)
    assert delivery.reason == "Gave up after 8 attempts."
    assert delivery.last_status == "HTTP 500"
    # The same message each time: receivers drop repeats by webhook-id.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_each_attempt_records_the_status_time_duration_and_the_first_kilobyte_of_the_answer(receiver, endpoint_for):
    receiver.plan = lambda n: (503, 0)
    endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")

    webhook_deliveries_run()

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 503
    assert attempt.response_excerpt == '{"n": 0, "status": 503}'
    assert 0 <= attempt.duration_ms < 5000
    assert attempt.at <= timezone.now()


def test_a_timeout_counts_as_a_failure_and_is_retried(receiver, endpoint_for, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.plan = lambda n: (200, 2.0) if n == 0 else (200, 0)
    endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")

    webhook_deliveries_run()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status) == (DeliveryState.PENDING, "timed out after 0.5 s")

    _all_due_now()
    webhook_deliveries_run()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert delivery.attempts == 2


def test_a_connection_refused_is_retried_with_the_error_recorded(endpoint_for, receiver):
    endpoint = endpoint_for(events=["subscriber.created"])
    receiver.stop()  # nothing listens there any more
    subscriber_get_or_create(email="ada@mail.example")

    webhook_deliveries_run()

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == DeliveryState.PENDING
    assert "ConnectionRefusedError" in delivery.last_status
    receiver.start()  # for the fixture's teardown


def test_events_about_one_subscriber_wait_for_an_earlier_one_that_fails_and_arrive_in_order(receiver, endpoint_for):
    # Given a receiver that fails its first request, and three events about Ada and one about Grace
    receiver.plan = lambda n: (500, 0) if n == 0 else (200, 0)
    endpoint_for(events=["subscription.confirmed", "subscription.withdrawn", "subscriber.created"])
    ada, grace = SubscriberFactory(email="ada@mail.example"), SubscriberFactory(email="grace@mail.example")
    for n, kind in enumerate(["subscriber.created", "subscription.confirmed", "subscription.withdrawn"]):
        webhook_event_publish(type=kind, subscriber=ada, data={"step": n})
    webhook_event_publish(type="subscriber.created", subscriber=grace, data={"step": 0})

    # When the worker runs: Ada's first fails, and her later two wait; Grace's is not held up by Ada's
    webhook_deliveries_run()
    states = dict(WebhookDelivery.objects.values_list("event__data__step", "state").filter(event__subscriber=ada))
    assert states == {0: "pending", 1: "pending", 2: "pending"}
    assert WebhookDelivery.objects.get(event__subscriber=grace).state == DeliveryState.SUCCEEDED
    assert WebhookAttempt.objects.filter(delivery__event__subscriber=ada).count() == 1

    # Then, once the receiver is back, every event about Ada arrives, in order
    for _ in range(3):
        _all_due_now()
        webhook_deliveries_run()
    about_ada = [r.json for r in receiver.succeeded() if r.json["data"]["subscriber"] == str(ada.public_id)]
    assert [(b["type"], b["data"]["step"]) for b in about_ada] == [
        ("subscriber.created", 0),
        ("subscription.confirmed", 1),
        ("subscription.withdrawn", 2),
    ]


def test_a_change_that_rolls_back_leaves_no_event_and_sends_nothing(receiver, endpoint_for):
    endpoint_for(events=["subscriber.created"])

    with pytest.raises(RuntimeError), transaction.atomic():
        subscriber_get_or_create(email="ada@mail.example")
        raise RuntimeError("the rest of the change failed")
    webhook_deliveries_run()

    assert not Subscriber.objects.exists()
    assert not WebhookEvent.objects.exists()
    assert receiver.requests == []


def test_an_endpoint_that_wants_other_events_gets_no_delivery_and_no_event_is_kept_for_nobody(endpoint_for):
    endpoint_for(events=["send.started"])

    subscriber_get_or_create(email="ada@mail.example")

    assert not WebhookEvent.objects.exists()


def test_a_disabled_endpoint_keeps_its_pending_deliveries_until_it_is_enabled_again(receiver, endpoint_for):
    endpoint = endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)

    webhook_deliveries_run()
    assert receiver.requests == []

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=True)
    webhook_deliveries_run()
    assert len(receiver.succeeded()) == 1


def test_an_endpoint_failing_for_five_days_is_disabled_with_the_reason_and_staff_are_told(
    receiver, endpoint_for, outbox, django_capture_on_commit_callbacks
):
    # Given an endpoint whose every delivery has failed since a moment we know
    admin = UserFactory(email="admin@larkspur-lune.example", is_superuser=True, is_staff=True)
    customer = UserFactory(email="customer@shop.example")
    receiver.plan = lambda n: (500, 0)
    endpoint = endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")
    webhook_deliveries_run()
    endpoint.refresh_from_db()
    since = endpoint.failing_since
    assert since is not None

    # When the sweep looks just short of five days later, nothing happens; at five days it is disabled
    assert webhook_endpoints_disable_failing(now=since + timedelta(days=5) - timedelta(minutes=1)) == []
    with django_capture_on_commit_callbacks(execute=True):
        webhooks_sweep(now=since + timedelta(days=5))

    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert "every delivery failed for 5 days" in endpoint.disabled_reason
    email = outbox.last_to(admin.email)
    assert "CRM" in email.subject and "disabled" in email.subject
    assert outbox.to(customer.email) == []


def test_a_success_clears_failing_since_so_only_five_days_without_any_success_disables(receiver, endpoint_for):
    receiver.plan = lambda n: (500, 0) if n == 0 else (200, 0)
    endpoint = endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")
    webhook_deliveries_run()
    endpoint.refresh_from_db()
    since = endpoint.failing_since

    _all_due_now()
    webhook_deliveries_run()
    endpoint.refresh_from_db()

    assert endpoint.failing_since is None and endpoint.last_success_at is not None
    assert webhook_endpoints_disable_failing(now=since + timedelta(days=6)) == []


def test_the_sweep_finds_due_work_that_lost_its_task(receiver, endpoint_for):
    endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")  # its task never ran: tasks run inline only after commit

    counts = webhooks_sweep()

    assert counts["due"] == 1
    assert counts["woken"] == 1


def test_a_lease_left_by_a_lost_worker_expires_and_the_delivery_is_tried_again(receiver, endpoint_for):
    endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")
    WebhookDelivery.objects.update(lease_expires_at=timezone.now() + timedelta(minutes=1))

    webhook_deliveries_run()
    assert receiver.requests == []

    WebhookDelivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    webhook_deliveries_run()
    assert len(receiver.succeeded()) == 1


def test_a_worker_whose_lease_ran_out_before_it_reached_a_delivery_leaves_it_to_the_worker_that_claimed_it_again(
    receiver, endpoint_for, settings
):
    from webhooks.delivery import webhook_deliveries_claim, webhook_delivery_attempt, webhook_lease_until

    endpoint_for(events=["subscriber.created"])
    for n in range(3):
        subscriber_get_or_create(email=f"p{n}@mail.example")
    lease = webhook_lease_until(timezone.now()) - timezone.now()
    assert lease < timedelta(seconds=3 * 2 * settings.WEBHOOK_TIMEOUT_SECONDS)  # shorter than a slow batch

    # Worker A claims all three and posts the first
    t0 = timezone.now()
    claimed_by_a = webhook_deliveries_claim(size=20, now=t0)
    a_holds = webhook_lease_until(t0)
    assert webhook_delivery_attempt(delivery_id=claimed_by_a[0], held_until=a_holds, now=t0) is not None

    # The first post was slow: the lease on the other two ran out, and worker B claims them
    t1 = t0 + lease + timedelta(seconds=1)
    claimed_by_b = webhook_deliveries_claim(size=20, now=t1)
    assert claimed_by_b == claimed_by_a[1:]

    # Worker A reaches them: it no longer holds them, so it posts nothing; B posts each once
    assert [webhook_delivery_attempt(delivery_id=pk, held_until=a_holds, now=t1) for pk in claimed_by_a[1:]] == [
        None,
        None,
    ]
    for pk in claimed_by_b:
        assert webhook_delivery_attempt(delivery_id=pk, held_until=webhook_lease_until(t1), now=t1) is not None

    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 3
    assert set(WebhookDelivery.objects.values_list("state", "attempts")) == {(DeliveryState.SUCCEEDED, 1)}


def test_a_delivery_whose_claim_ran_out_unclaimed_is_not_posted_by_its_old_worker_but_claimed_again(
    receiver, endpoint_for
):
    from webhooks.delivery import webhook_deliveries_claim, webhook_delivery_attempt, webhook_lease_until

    endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")
    t0 = timezone.now()
    [pk] = webhook_deliveries_claim(size=20, now=t0)
    late = webhook_lease_until(t0) + timedelta(seconds=1)

    assert webhook_delivery_attempt(delivery_id=pk, held_until=webhook_lease_until(t0), now=late) is None
    assert receiver.requests == []
    assert webhook_deliveries_claim(size=20, now=late) == [pk]


def test_staff_told_of_a_disabled_endpoint_are_active_staff_and_never_an_api_keys_service_user():
    from django.contrib.auth.models import Permission

    from api.services import api_key_create
    from webhooks.delivery import webhook_staff_recipients

    manage = Permission.objects.get(codename="manage_webhooks")
    manager = UserFactory(email="hooks@larkspur-lune.example", is_staff=True)
    manager.user_permissions.add(manage)
    gone = UserFactory(email="gone@larkspur-lune.example", is_staff=True, is_active=False)
    gone.user_permissions.add(manage)
    admin = UserFactory(email="admin@larkspur-lune.example", is_superuser=True, is_staff=True)
    key = api_key_create(name="CRM connector", scopes=["webhooks:manage"])
    assert key.api_key.user.has_perm("webhooks.manage_webhooks")  # the key's user holds the permission ...

    assert webhook_staff_recipients() == sorted([admin.email, manager.email])  # ... but is nobody to email
