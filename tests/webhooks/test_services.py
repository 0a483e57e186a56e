"""The staff actions the admin and the API call: each checks webhooks.manage_webhooks, refuses bad input naming the
field and changing nothing, and writes the audit log."""

import pytest
from wagtail.models import ModelLogEntry

from subscribers.errors import ActionForbidden
from subscribers.services import subscriber_get_or_create
from tests.factories import PRIVACY_OFFICERS, SENDERS, staff_in_role
from webhooks import selectors, services
from webhooks.delivery import webhook_deliveries_run
from webhooks.errors import WebhookError
from webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer():
    return staff_in_role(PRIVACY_OFFICERS, "officer@larkspur-lune.example")


def _create(user, **overrides):
    options = {"name": "CRM", "url": "https://hooks.example/in", "events": ["subscriber.created"], **overrides}
    return services.webhook_endpoint_create(user=user, **options)


def test_privacy_officers_may_manage_endpoints_and_each_action_is_in_the_audit_log(officer):
    endpoint, secret = _create(officer)
    services.webhook_endpoint_update(user=officer, endpoint=endpoint, name="Shop CRM")
    services.webhook_endpoint_secret_rotate(user=officer, endpoint=endpoint)
    services.webhook_endpoint_delete(user=officer, endpoint=endpoint)

    actions = list(ModelLogEntry.objects.filter(user=officer).order_by("pk").values_list("action", flat=True))
    assert actions == [
        "webhooks.endpoint_create",
        "webhooks.endpoint_update",
        "webhooks.endpoint_secret_rotate",
        "webhooks.endpoint_delete",
    ]
    assert secret not in str(list(ModelLogEntry.objects.values_list("data", flat=True)))


@pytest.mark.parametrize(
    "action",
    [
        lambda user, endpoint: _create(user),
        lambda user, endpoint: services.webhook_endpoint_update(user=user, endpoint=endpoint, name="X"),
        lambda user, endpoint: services.webhook_endpoint_secret_rotate(user=user, endpoint=endpoint),
        lambda user, endpoint: services.webhook_endpoint_delete(user=user, endpoint=endpoint),
        lambda user, endpoint: selectors.webhook_endpoints_list(user=user),
    ],
)
def test_a_campaign_sender_may_not_manage_webhooks_and_nothing_changes(action):
    endpoint, secret = _create(None)
    sender = staff_in_role(SENDERS, "sender@larkspur-lune.example")

    with pytest.raises(ActionForbidden, match=r"webhooks\.manage_webhooks"):
        action(sender, endpoint)

    endpoint.refresh_from_db()
    assert (WebhookEndpoint.objects.count(), endpoint.name, endpoint.secret) == (1, "CRM", secret)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": " "}, "name"),
        ({"url": "ftp://hooks.example/in"}, "url"),
        ({"url": "https://hooks.example/" + "x" * 500}, "url"),
        ({"events": []}, "events"),
        ({"events": ["subscriber.created", "order.paid"]}, "events"),
        ({"is_partner": True}, "partner"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_saved(overrides, field):
    with pytest.raises(WebhookError) as refused:
        _create(None, **overrides)

    assert refused.value.field == field
    assert not WebhookEndpoint.objects.exists()


def test_rotation_keeps_the_previous_secret_signing_until_its_overlap_ends():
    endpoint, first = _create(None)

    endpoint, second = services.webhook_endpoint_secret_rotate(user=None, endpoint=endpoint, previous_valid_hours=24)

    assert second != first
    assert (endpoint.secret, endpoint.previous_secret) == (second, first)
    assert endpoint.previous_secret_expires_at is not None


def test_send_again_makes_one_new_attempt_for_a_failed_delivery_and_is_refused_for_a_pending_one(
    receiver, endpoint_for, officer, settings
):
    settings.WEBHOOK_RETRY_SCHEDULE = []  # one attempt, then failed
    receiver.plan = lambda n: (500, 0) if n == 0 else (200, 0)
    endpoint_for(events=["subscriber.created"])
    subscriber_get_or_create(email="ada@mail.example")
    webhook_deliveries_run()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED

    services.webhook_delivery_resend(user=officer, delivery=delivery)
    with pytest.raises(WebhookError, match="still pending"):
        services.webhook_delivery_resend(user=officer, delivery=delivery)
    webhook_deliveries_run()

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.SUCCEEDED, 2)
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    assert ModelLogEntry.objects.filter(user=officer, action="webhooks.delivery_resend").count() == 1


def _webhook_manager_only(email="hooks@larkspur-lune.example"):
    from django.contrib.auth.models import Permission

    from subscribers.models import User

    user = User.objects.create(email=email, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="manage_webhooks"))
    return User.objects.get(pk=user.pk)  # a fresh row: has_perm caches what it found


def test_turning_on_personal_data_needs_the_permission_to_view_subscribers_too_and_changes_nothing_without_it():
    manager = _webhook_manager_only()

    with pytest.raises(ActionForbidden, match=r"subscribers\.view_subscriber"):
        _create(manager, include_personal_data=True)
    assert not WebhookEndpoint.objects.exists()

    endpoint, _ = _create(manager)
    with pytest.raises(ActionForbidden, match=r"subscribers\.view_subscriber"):
        services.webhook_endpoint_update(user=manager, endpoint=endpoint, name="Renamed", include_personal_data=True)
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.include_personal_data) == ("CRM", False)


def test_someone_who_may_view_subscribers_may_turn_on_personal_data_and_others_may_still_edit_such_an_endpoint(
    officer,
):
    endpoint, _ = _create(officer, include_personal_data=True)
    assert endpoint.include_personal_data

    # Leaving it on is no new disclosure: a manager without the permission may still rename it
    manager = _webhook_manager_only()
    services.webhook_endpoint_update(user=manager, endpoint=endpoint, name="Shop CRM", include_personal_data=True)
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.include_personal_data) == ("Shop CRM", True)


def test_a_changed_url_is_resolved_before_the_endpoint_is_locked_never_inside_the_transaction(settings, monkeypatch):
    import socket

    from django.db import connection

    endpoint, _ = _create(None)
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False  # so the URL's host is resolved
    depth = len(connection.savepoint_ids)  # the test's own transaction
    lookups = []

    def getaddrinfo(host, port, *args, **kwargs):
        lookups.append((host, len(connection.savepoint_ids) > depth))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    services.webhook_endpoint_update(user=None, endpoint=endpoint, url="https://hooks.partner.example/in")

    assert lookups == [("hooks.partner.example", False)]  # resolved once, with no transaction of the change open
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.partner.example/in"
