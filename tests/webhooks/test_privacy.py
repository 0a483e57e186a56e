"""Privacy on the webhook path: thin payloads by default, personal data only when asked for, a partner's endpoint
never reaches an objector (objecting before or after the event was queued), each partner delivery with personal
data in the disclosure log, erasure scrubs pending deliveries, private addresses refused under production rules."""

import socket

import pytest

from subscribers.models import ConsentSource, Disclosure, DisclosureKind, ErasureSource
from subscribers.services import subscriber_get_or_create, third_party_objection_set
from subscribers.services.erasure import subscriber_erase
from webhooks.delivery import webhook_deliveries_run
from webhooks.errors import WebhookUrlRefused
from webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery
from webhooks.publishing import OBJECTED_REASON
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


def test_a_payload_is_thin_by_default_public_ids_and_no_address_or_name(receiver, endpoint_for):
    endpoint_for(events=["subscriber.created"])

    subscriber_get_or_create(email="ada@mail.example", first_name="Ada")
    webhook_deliveries_run()

    [request] = receiver.requests
    assert b"ada@mail.example" not in request.body and b"Ada" not in request.body
    assert set(request.json["data"]) == {"subscriber"}


def test_an_endpoint_with_personal_data_gets_the_address_and_first_name(receiver, endpoint_for):
    endpoint_for(events=["subscriber.created"], include_personal_data=True)

    subscriber_get_or_create(email="ada@mail.example", first_name="Ada")
    webhook_deliveries_run()

    data = receiver.requests[0].json["data"]
    assert (data["email"], data["first_name"]) == ("ada@mail.example", "Ada")


def test_an_objector_never_reaches_a_partner_endpoint_while_others_still_get_the_event(
    receiver, endpoint_for, partner
):
    # Given a partner's endpoint and an ordinary one, and a person who has objected to sharing
    partner_endpoint = endpoint_for(
        events=["subscription.withdrawn", "suppression.added"], is_partner=True, partner=partner
    )
    own = endpoint_for(events=["suppression.added"], name="Own CRM")
    ada = subscriber_get_or_create(email="ada@mail.example")
    third_party_objection_set(subscriber=ada, objects=True, source=ConsentSource.PREFERENCE_CENTRE)

    webhook_deliveries_run()

    skipped = WebhookDelivery.objects.get(endpoint=partner_endpoint)
    assert (skipped.state, skipped.reason) == (DeliveryState.SKIPPED, OBJECTED_REASON)
    assert WebhookDelivery.objects.get(endpoint=own).state == DeliveryState.SUCCEEDED
    assert [r.json["type"] for r in receiver.requests] == ["suppression.added"]  # the own CRM's, once


def test_objecting_after_the_event_was_queued_still_keeps_it_from_the_partner(receiver, endpoint_for, partner):
    # Given an event queued for a partner while Ada had not objected
    endpoint = endpoint_for(
        events=["subscriber.created"], is_partner=True, partner=partner, include_personal_data=True
    )
    ada = subscriber_get_or_create(email="ada@mail.example")
    assert WebhookDelivery.objects.get(endpoint=endpoint).state == DeliveryState.PENDING

    # When she objects before the worker gets to it
    third_party_objection_set(subscriber=ada, objects=True, source=ConsentSource.PREFERENCE_CENTRE)
    webhook_deliveries_run()

    # Then nothing reaches the partner and nothing is logged as disclosed
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.state, delivery.reason) == (DeliveryState.SKIPPED, OBJECTED_REASON)
    assert receiver.requests == []
    assert not WebhookAttempt.objects.exists()
    assert not Disclosure.objects.exists()


def test_each_partner_delivery_with_personal_data_is_in_the_disclosure_log_once_with_the_body_checksum(
    receiver, endpoint_for, partner
):
    import hashlib

    receiver.plan = lambda n: (500, 0) if n == 0 else (200, 0)  # a retry must not log it twice
    endpoint_for(events=["subscriber.created"], is_partner=True, partner=partner, include_personal_data=True)
    ada = subscriber_get_or_create(email="ada@mail.example", first_name="Ada")

    webhook_deliveries_run()
    WebhookDelivery.objects.update(next_attempt_at="2000-01-01T00:00:00Z")
    webhook_deliveries_run()

    disclosure = Disclosure.objects.get()
    assert disclosure.kind == DisclosureKind.WEBHOOK
    assert (disclosure.partner, disclosure.recipient, disclosure.row_count) == (partner, "Gem Club", 1)
    assert disclosure.fields_shared == ["email", "first_name"]
    assert disclosure.checksum == hashlib.sha256(receiver.requests[-1].body).hexdigest()
    assert list(disclosure.recipients.values_list("subscriber_id", flat=True)) == [ada.pk]
    assert WebhookDelivery.objects.get().disclosure == disclosure


def test_a_thin_partner_delivery_is_not_a_disclosure_of_personal_data(receiver, endpoint_for, partner):
    endpoint_for(events=["subscriber.created"], is_partner=True, partner=partner)

    subscriber_get_or_create(email="ada@mail.example")
    webhook_deliveries_run()

    assert len(receiver.succeeded()) == 1
    assert not Disclosure.objects.exists()


def test_erasure_scrubs_the_personal_data_of_pending_deliveries_which_then_go_out_thin(receiver, endpoint_for):
    endpoint_for(events=["subscriber.created", "subscriber.erased"], include_personal_data=True)
    ada = subscriber_get_or_create(email="ada@mail.example", first_name="Ada")
    public_id = str(ada.public_id)

    subscriber_erase(subscriber=ada, source=ErasureSource.STAFF)
    webhook_deliveries_run()

    assert [r.json["type"] for r in receiver.requests] == ["subscriber.created", "subscriber.erased"]
    for request in receiver.requests:
        assert b"ada@mail.example" not in request.body and b"Ada" not in request.body
        assert request.json["data"] == {"subscriber": public_id}


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1"),
        ("https://10.1.2.3/hook", "10.1.2.3"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("https://[::1]/hook", "::1"),
        ("https://192.168.0.10/hook", "192.168.0.10"),
        ("https://localhost/hook", "127.0.0.1"),
    ],
)
def test_under_production_rules_a_url_on_a_private_address_is_refused_at_save_naming_the_address(
    settings, url, address
):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False

    with pytest.raises(WebhookUrlRefused) as refused:
        webhook_endpoint_create(user=None, name="Inside", url=url, events=["send.started"])

    assert refused.value.field == "url"
    assert address in str(refused.value) or (address == "127.0.0.1" and "::1" in str(refused.value))


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "https:///nohost", "example.com/x"])
def test_only_http_and_https_urls_with_a_host_are_accepted(url):
    with pytest.raises(WebhookUrlRefused) as refused:
        webhook_endpoint_create(user=None, name="Odd", url=url, events=["send.started"])

    assert refused.value.field == "url"


def test_a_host_that_resolves_to_a_private_address_by_delivery_time_is_refused_then(
    receiver, endpoint_for, settings, monkeypatch
):
    # Given an endpoint saved while its name resolved to a public address (DNS can be changed afterwards)
    endpoint = endpoint_for(events=["subscriber.created"])
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
    private = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
    answers = iter([public, private])
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: next(answers))
    from webhooks.services import webhook_endpoint_update

    webhook_endpoint_update(user=None, endpoint=endpoint, url="https://hooks.partner.example/in")

    # When it is delivered, the name now points inside our network
    subscriber_get_or_create(email="ada@mail.example")
    webhook_deliveries_run()

    # Then nothing is posted, and the attempt names the address
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert "resolves to 10.0.0.5, a private address" in attempt.error
    assert receiver.requests == []


def test_a_partner_made_inactive_after_its_endpoint_was_saved_receives_nothing_and_nothing_is_logged_as_disclosed(
    receiver, endpoint_for, partner
):
    from subscribers.models import Partner

    # Given a partner's endpoint with personal data, and the partner's contract ending afterwards
    endpoint = endpoint_for(
        events=["subscriber.created"], is_partner=True, partner=partner, include_personal_data=True
    )
    Partner.objects.filter(pk=partner.pk).update(is_active=False)

    subscriber_get_or_create(email="ada@mail.example", first_name="Ada")
    webhook_deliveries_run()

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == DeliveryState.SKIPPED
    assert delivery.reason.startswith("Gem Club is inactive")
    assert receiver.requests == []
    assert not WebhookAttempt.objects.exists()
    assert not Disclosure.objects.exists()


@pytest.mark.parametrize(
    ("address", "refused_as"),
    [
        ("2002:a9fe:a9fe::1", "link-local (IPv4 169.254.169.254 inside)"),  # 6to4 of the metadata service
        ("2002:7f00:1::1", "loopback (IPv4 127.0.0.1 inside)"),
        ("2002:a00:5::1", "private (IPv4 10.0.0.5 inside)"),
        ("2002:c0a8:a::1", "private (IPv4 192.168.0.10 inside)"),
        ("64:ff9b::a9fe:a9fe", "link-local (IPv4 169.254.169.254 inside)"),  # NAT64 of the metadata service
        ("64:ff9b::7f00:1", "loopback (IPv4 127.0.0.1 inside)"),
        ("64:ff9b::a00:5", "private (IPv4 10.0.0.5 inside)"),
        ("::ffff:10.0.0.5", "private (IPv4 10.0.0.5 inside)"),
        ("2002:5db8:d70e::1", None),  # 6to4 of a public address
        ("64:ff9b::5db8:d70e", None),  # NAT64 of a public address
        ("2606:4700:4700::1111", None),
    ],
)
def test_an_ipv6_address_carrying_an_ipv4_one_is_judged_by_the_ipv4_address_inside(address, refused_as):
    from webhooks.addresses import webhook_url_check

    url = f"https://[{address}]/hook"
    if refused_as is None:
        assert webhook_url_check(url, allow_private=False).address == address
        return
    with pytest.raises(WebhookUrlRefused) as refused:
        webhook_url_check(url, allow_private=False)
    assert refused.value.field == "url"
    assert f", a {refused_as} address" in str(refused.value)


def test_a_partner_delivery_refused_by_the_url_check_at_attempt_time_is_no_disclosure_until_it_is_posted(
    receiver, endpoint_for, partner, settings
):
    # Given a partner's endpoint with personal data, whose URL (127.0.0.1) production rules refuse at attempt time
    endpoint_for(events=["subscriber.created"], is_partner=True, partner=partner, include_personal_data=True)
    subscriber_get_or_create(email="ada@mail.example", first_name="Ada")
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False

    webhook_deliveries_run()

    # Then nothing left, and nothing is in the disclosure log
    assert "a loopback address" in WebhookAttempt.objects.get().error
    assert receiver.requests == []
    assert not Disclosure.objects.exists()

    # When a later attempt is posted, it is logged, once
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    WebhookDelivery.objects.update(next_attempt_at="2000-01-01T00:00:00Z")
    webhook_deliveries_run()
    assert len(receiver.requests) == 1
    assert Disclosure.objects.get() == WebhookDelivery.objects.get().disclosure


def test_a_new_signup_of_an_erased_address_is_announced_thin_even_to_an_endpoint_with_personal_data(
    receiver, endpoint_for
):
    from subscribers.services.subscriptions import public_signup

    endpoint_for(events=["subscriber.created"], include_personal_data=True)
    ada = subscriber_get_or_create(email="ada@mail.example", first_name="Ada")
    subscriber_erase(subscriber=ada, source=ErasureSource.STAFF)
    webhook_deliveries_run()
    receiver.requests.clear()

    # When the erased address signs up again (pending: no fresh confirmed opt-in yet)
    public_signup(email="ada@mail.example", first_name="Ada")
    webhook_deliveries_run()

    # Then the new subscriber is announced, by public id only
    [request] = receiver.requests
    assert request.json["type"] == "subscriber.created"
    assert set(request.json["data"]) == {"subscriber"}
    assert b"ada@mail.example" not in request.body and b"Ada" not in request.body
