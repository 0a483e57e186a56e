"""HTTP behaviour of the pages reached from emails and the public signup form."""

import contextlib
import re
import tempfile

import psycopg
import pytest
from django.db import connection
from django.test import Client

from subscribers.links import preferences_url, unsubscribe_url
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    SuppressionScope,
)
from subscribers.services import (
    subscription_request,
    subscription_withdraw,
    subscription_withdraw_one_click,
    suppression_add,
)
from subscribers.wording import PUBLIC_SIGNUP, UNSUBSCRIBE, wording_hash
from tests.factories import ConfirmedSubscriberFactory, SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

CONFIRM_PATH = re.compile(r"/newsletter/confirm/[^/\s]+/")


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def snapshot():
    """Everything a GET must leave alone."""
    return (
        list(Subscription.objects.order_by("pk").values_list("status", "confirm_nonce_hash", "unsubscribed_at")),
        ConsentEvent.objects.count(),
    )


# --- Unsubscribe and the RFC 8058 one-click endpoint -------------------------------------------------


def test_unsubscribe_get_shows_the_page_and_changes_nothing_however_often_it_is_fetched(client):
    subscription = SubscriptionFactory()
    path = path_of(unsubscribe_url(subscription=subscription))
    before = snapshot()

    for _ in range(3):
        response = client.get(path)
        assert response.status_code == 200
        assert b"General Subscription" in response.content
        assert b"Unsubscribe</button>" in response.content

    assert snapshot() == before


@pytest.mark.parametrize("multipart", [False, True])
def test_one_click_post_unsubscribes_without_cookies_or_csrf_token(multipart):
    subscription = SubscriptionFactory()
    path = path_of(unsubscribe_url(subscription=subscription))
    client = Client(enforce_csrf_checks=True)
    body = {"List-Unsubscribe": "One-Click"}

    if multipart:
        response = client.post(path, body)  # the test client encodes multipart/form-data by default
    else:
        response = client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    assert "Location" not in response.headers
    assert not response.cookies
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
    event = ConsentEvent.objects.get(subscriber=subscription.subscriber)
    assert (event.action, event.source) == (ConsentAction.WITHDRAWN, ConsentSource.ONE_CLICK)


def test_one_click_post_is_idempotent():
    subscription = SubscriptionFactory()
    path = path_of(unsubscribe_url(subscription=subscription))
    client = Client(enforce_csrf_checks=True)

    responses = [client.post(path, {"List-Unsubscribe": "One-Click"}) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert ConsentEvent.objects.filter(action=ConsentAction.WITHDRAWN).count() == 1


def test_one_click_with_a_forged_token_is_refused_and_changes_nothing():
    subscription = SubscriptionFactory()
    path = path_of(unsubscribe_url(subscription=subscription))
    forged = path[:-3] + ("x/" if path[-2] != "x" else "y/")

    response = Client(enforce_csrf_checks=True).post(forged, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 404
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_one_click_records_the_same_withdrawal_and_evidence_as_every_other_way_of_leaving():
    # Given two people on one list with a pending confirmation link each, one leaving by one-click from an address
    ann, bob = (
        SubscriptionFactory(status=SubscriptionStatus.PENDING, confirm_nonce_hash="a" * 64, subscriber__email=email)
        for email in ("ann@mail.example", "bob@mail.example")
    )
    one_click = Client(REMOTE_ADDR="203.0.113.77")
    one_click.post(path_of(unsubscribe_url(subscription=ann)), {"List-Unsubscribe": "One-Click"})

    # When the other leaves through the general withdrawal with the same source, reason and address
    subscription_withdraw(subscription=bob, source=ConsentSource.ONE_CLICK, ip="203.0.113.77", reason="one-click")

    # Then both subscriptions and both consent events are alike but for whom they are about and when
    fields = ["topic_id", "purpose", "action", "source", "policy_version_id", "wording_hash", "ip_truncated", "detail"]
    events = [ConsentEvent.objects.filter(subscriber=s.subscriber).values(*fields).get() for s in (ann, bob)]
    assert events[0] == events[1]
    assert events[0]["ip_truncated"] == "203.0.113.0" and events[0]["policy_version_id"] is not None
    for row in (ann, bob):
        row.refresh_from_db()
        assert (row.status, row.confirm_nonce_hash) == (SubscriptionStatus.UNSUBSCRIBED, "")
        assert row.unsubscribed_at is not None


@contextlib.contextmanager
def postgresql_protocol():
    """The messages this thread's connection exchanges with PostgreSQL meanwhile (libpq's trace), one per line:
    what the server sees, statements Django does not count included."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    messages: list[str] = []
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        try:
            yield messages
        finally:
            pgconn.untrace()
            trace.seek(0)
            messages += trace.read().decode().splitlines()


def round_trips(messages: list[str]) -> int:
    return sum("\tReadyForQuery" in line for line in messages)


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the one-statement route is PostgreSQL's")
def test_one_click_is_one_prepared_statement_in_one_round_trip_when_nobody_listens():
    first, second = SubscriptionFactory(), SubscriptionFactory()
    Client().post(path_of(unsubscribe_url(subscription=first)), {"List-Unsubscribe": "One-Click"})  # prepares it

    with postgresql_protocol() as messages:
        response = Client().post(path_of(unsubscribe_url(subscription=second)), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert not response.cookies, "no session or CSRF cookie: nothing but the statement is loaded or saved"
    # Who listens, the withdrawal and its event, in one statement prepared on the connection: bound, not parsed
    assert round_trips(messages) == 1
    sent = [line.split("\t")[2].split()[0] for line in messages if line.startswith("F\t")]
    assert sent == ["Bind", "Describe", "Execute", "Sync"]
    for subscription in (first, second):
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
        assert ConsentEvent.objects.filter(
            subscriber=subscription.subscriber, action=ConsentAction.WITHDRAWN, source=ConsentSource.ONE_CLICK
        ).count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the one-statement route is PostgreSQL's")
def test_a_second_one_click_records_nothing_and_a_forged_one_changes_nothing_in_one_round_trip():
    subscription, bystander = SubscriptionFactory(), SubscriptionFactory()
    path = path_of(unsubscribe_url(subscription=subscription))
    Client().post(path, {"List-Unsubscribe": "One-Click"})

    with postgresql_protocol() as messages:
        again = Client().post(path, {"List-Unsubscribe": "One-Click"})
    forged = Client().post(path.replace(path.split("/")[-2][-4:], "AAAA"), {"List-Unsubscribe": "One-Click"})

    assert (again.status_code, forged.status_code) == (200, 404)
    assert round_trips(messages) == 1
    assert ConsentEvent.objects.filter(action=ConsentAction.WITHDRAWN).count() == 1
    bystander.refresh_from_db()
    assert bystander.status == SubscriptionStatus.ACTIVE


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the one-statement route is PostgreSQL's")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # brings back the rows migrations made
def test_one_click_on_a_connection_the_server_dropped_withdraws_on_a_new_one():
    # Given a persistent connection that PostgreSQL has since closed (a restart, an idle timeout)
    subscription = SubscriptionFactory()
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)

    # When a one-click unsubscribe comes in on it
    withdrawn = subscription_withdraw_one_click(public_id=subscription.public_id, ip="203.0.113.5")

    # Then it was sent again on a new connection, and the withdrawal and its evidence are there
    assert withdrawn and connection.connection.info.backend_pid != pid
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
    assert ConsentEvent.objects.filter(subscriber=subscription.subscriber, source=ConsentSource.ONE_CLICK).count() == 1


def test_one_click_for_a_subscription_that_no_longer_exists_is_not_found_and_records_nothing():
    subscription = SubscriptionFactory()
    path = path_of(unsubscribe_url(subscription=subscription))
    subscription.delete()

    response = Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 404
    assert not ConsentEvent.objects.exists()


def test_unsubscribe_form_post_without_csrf_token_is_rejected():
    subscription = SubscriptionFactory()
    path = path_of(unsubscribe_url(subscription=subscription))

    response = Client(enforce_csrf_checks=True).post(path, {"scope": "topic"})

    assert response.status_code == 403
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_unsubscribe_form_can_leave_everything_with_a_reason(client):
    subscription = SubscriptionFactory()
    other = SubscriptionFactory(subscriber=subscription.subscriber, topic=TopicFactory(name="Private Sales"))
    path = path_of(unsubscribe_url(subscription=subscription))

    response = client.post(path, {"scope": "all", "reason": "too_many", "reason_text": "weekly is plenty"})

    assert response.status_code == 200
    assert b"no more marketing email" in response.content
    for row in (subscription, other):
        row.refresh_from_db()
        assert row.status == SubscriptionStatus.UNSUBSCRIBED
    details = sorted(ConsentEvent.objects.values_list("detail", flat=True))
    assert details == ["all marketing email: too_many weekly is plenty"] + ["too_many weekly is plenty"] * 2
    assert set(ConsentEvent.objects.values_list("wording_hash", flat=True)) == {wording_hash(UNSUBSCRIBE)}


def test_unsubscribe_form_for_one_topic_leaves_the_others(client):
    subscription = SubscriptionFactory()
    other = SubscriptionFactory(subscriber=subscription.subscriber, topic=TopicFactory(name="Private Sales"))

    client.post(path_of(unsubscribe_url(subscription=subscription)), {"scope": "topic"})

    subscription.refresh_from_db()
    other.refresh_from_db()
    assert (subscription.status, other.status) == (SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.ACTIVE)


def test_after_a_one_click_unsubscribe_the_page_says_it_is_done_and_offers_the_preferences(client):
    # Given a subscriber on two lists who left one with the mailbox's one-click button
    subscription = SubscriptionFactory(subscriber__email="nell@mail.example")
    SubscriptionFactory(subscriber=subscription.subscriber, topic=TopicFactory(name="Private Sales"))
    path = path_of(unsubscribe_url(subscription=subscription))
    Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})
    before = snapshot()

    # When the unsubscribe link in the email is opened afterwards
    response = client.get(path)

    # Then it says that list is already done, names what is left, offers the way back, and changes nothing
    page = response.content.decode()
    assert response.status_code == 200
    assert "This is already done: <strong>nell@mail.example</strong> no longer receives" in page
    assert "Unsubscribe</button>" not in page
    assert "You still receive:" in page and "<li>Private Sales</li>" in page
    assert "Stop all marketing email</button>" in page
    assert f'href="{preferences_url(subscriber=subscription.subscriber)}">Manage your preferences</a>' in page
    assert snapshot() == before


def test_the_done_page_can_still_stop_everything_that_is_left(client):
    subscription = SubscriptionFactory()
    other = SubscriptionFactory(subscriber=subscription.subscriber, topic=TopicFactory(name="Private Sales"))
    subscription_withdraw(subscription=subscription, source=ConsentSource.ONE_CLICK)
    path = path_of(unsubscribe_url(subscription=subscription))

    response = client.post(path, {"scope": "all"})  # the done page's "Stop all marketing email" button

    other.refresh_from_db()
    assert other.status == SubscriptionStatus.UNSUBSCRIBED
    page = response.content.decode()
    assert "We will send no more marketing email to" in page
    assert "You still receive" not in page
    assert client.get(path).content.decode().count("This is already done: we send no more marketing email to") == 1


def test_after_leaving_one_list_the_page_names_the_lists_still_received(client):
    subscription = SubscriptionFactory()
    SubscriptionFactory(subscriber=subscription.subscriber, topic=TopicFactory(name="Private Sales"))

    response = client.post(path_of(unsubscribe_url(subscription=subscription)), {"scope": "topic"})

    page = response.content.decode()
    assert "You will no longer receive <strong>General Subscription</strong>." in page
    assert "<li>Private Sales</li>" in page and "<li>General Subscription</li>" not in page


# --- Preference centre -----------------------------------------------------------------------------


def test_preference_centre_shows_general_subscription_and_saves_without_login(client):
    subscription = SubscriptionFactory()
    path = path_of(preferences_url(subscriber=subscription.subscriber))
    before = snapshot()

    page = client.get(path)
    assert page.status_code == 200
    assert re.search(rb"checked[^>]*>\s*<span>General Subscription</span>", page.content)
    assert snapshot() == before

    response = client.post(path, {"third_party_objection": "on"})

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
    sources = set(ConsentEvent.objects.values_list("source", flat=True))
    assert sources == {ConsentSource.PREFERENCE_CENTRE}


def saved_banner(response) -> str:
    """The text of the message shown after saving the preference centre."""
    found = re.search(r'<p class="message message-success">(.*?)</p>', response.content.decode(), re.S)
    assert found, "no message after saving"
    return found[1]


def test_preference_centre_banner_says_where_sharing_stands_after_each_save(client):
    # Given a confirmed subscriber on General Subscription who has not objected to sharing
    subscription = SubscriptionFactory(subscriber=ConfirmedSubscriberFactory())
    path = path_of(preferences_url(subscriber=subscription.subscriber))
    topic = f"topic_{subscription.topic_id}"

    # When they object and keep their topic, the banner says the objection is saved
    objected = saved_banner(client.post(path, {topic: "on", "third_party_objection": "on"}))
    assert objected == (
        "Your preferences are saved. "
        "Your objection to sharing is recorded: we will not share your details with third parties."
    )
    # When they save again changing only a topic, the objection is still mentioned
    again = saved_banner(client.post(path, {"third_party_objection": "on"}))
    assert again == (
        "Your preferences are saved. You will no longer receive: General Subscription. "
        "Your objection to sharing stays in place: we do not share your details with third parties."
    )
    # When they untick the objection, the banner says so
    lifted = saved_banner(client.post(path, {}))
    assert lifted == (
        "Your preferences are saved. "
        "You no longer object to sharing your details with carefully selected third parties."
    )
    # And with no objection and nothing changed, sharing is not mentioned
    assert saved_banner(client.post(path, {})) == "Your preferences are saved. Nothing needed changing."


def test_preference_centre_banner_mentions_an_objection_stored_as_an_address_wide_suppression(client):
    # An address-wide ("all") suppression also keeps the details from partners; unticking cannot lift it
    subscription = SubscriptionFactory(subscriber=ConfirmedSubscriberFactory())
    suppression_add(email=subscription.subscriber.email, scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)
    path = path_of(preferences_url(subscriber=subscription.subscriber))

    banner = saved_banner(client.post(path, {f"topic_{subscription.topic_id}": "on"}))

    assert banner == (
        "Your preferences are saved. Nothing needed changing. "
        "Your objection to sharing stays in place: we do not share your details with third parties."
    )


def test_preference_centre_rejects_a_tampered_token(client):
    subscription = SubscriptionFactory()
    path = path_of(preferences_url(subscriber=subscription.subscriber)).replace("/preferences/", "/preferences/0")

    assert client.get(path).status_code == 404


# --- Confirmation links ------------------------------------------------------------------------------


@pytest.fixture
def pending_confirm_path(db, outbox, django_capture_on_commit_callbacks):
    subscriber = SubscriberFactory()
    from subscribers.models import Topic

    with django_capture_on_commit_callbacks(execute=True):
        subscription_request(
            subscriber=subscriber,
            topics=[Topic.objects.get(is_default=True)],
            source=ConsentSource.PUBLIC_FORM,
            wording=PUBLIC_SIGNUP,
        )
    return CONFIRM_PATH.search(outbox.last_to(subscriber.email).text).group(0)


def test_confirm_get_shows_a_button_and_changes_nothing(client, pending_confirm_path):
    before = snapshot()

    for _ in range(3):
        response = client.get(pending_confirm_path)
        assert response.status_code == 200
        assert b"Yes, subscribe me" in response.content

    assert snapshot() == before
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING


def test_confirm_post_confirms_and_a_second_post_says_the_link_was_used(client, pending_confirm_path):
    response = client.post(pending_confirm_path)

    assert response.status_code == 200
    assert b"you are subscribed" in response.content
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    again = client.post(pending_confirm_path)
    assert again.status_code == 410
    assert b"already been used" in again.content


def test_confirm_post_without_csrf_token_is_rejected(pending_confirm_path):
    response = Client(enforce_csrf_checks=True).post(pending_confirm_path)

    assert response.status_code == 403
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING


def test_tampered_confirm_link_gets_a_friendly_page_offering_a_new_email_by_address(client, pending_confirm_path):
    response = client.get(pending_confirm_path[:-3] + "zz/")

    assert response.status_code == 400
    assert b"This link is not valid" in response.content
    assert b'action="/newsletter/subscribe/"' in response.content


def test_expired_confirm_link_gets_a_friendly_page_offering_a_new_email(client, pending_confirm_path, monkeypatch):
    import time

    later = time.time() + 8 * 86400
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)

    response = client.get(pending_confirm_path)

    assert response.status_code == 400
    assert b"This link has expired" in response.content
    assert b"Send me a new link" in response.content


def test_confirm_page_asks_for_an_explicit_request_after_a_complaint(client, pending_confirm_path):
    from subscribers.models import Subscriber, SuppressionReason, SuppressionScope

    suppression_add(
        email=Subscriber.objects.get().email, scope=SuppressionScope.ALL, reason=SuppressionReason.COMPLAINT
    )

    page = client.get(pending_confirm_path)
    assert b'name="explicit_resubscribe"' in page.content
    refused = client.post(pending_confirm_path)
    assert b"Please tick the box" in refused.content
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING

    client.post(pending_confirm_path, {"explicit_resubscribe": "on"})
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE


# --- Public signup form --------------------------------------------------------------------------------


def _subscribe(client, email):
    return client.post("/newsletter/subscribe/", {"email": email, "first_name": ""})


def test_public_form_answers_identically_for_new_pending_active_unsubscribed_and_suppressed_addresses(general):
    from subscribers.models import SuppressionReason, SuppressionScope

    SubscriberFactory(email="pending@mail.example")
    subscription_request(
        subscriber=SubscriberFactory(email="pending2@mail.example"),
        topics=[general],
        source=ConsentSource.PUBLIC_FORM,
        wording=PUBLIC_SIGNUP,
    )
    SubscriptionFactory(subscriber__email="active@mail.example")
    gone = SubscriptionFactory(subscriber__email="unsubscribed@mail.example")
    subscription_withdraw(subscription=gone, source=ConsentSource.EMAIL_LINK)
    suppression_add(email="suppressed@mail.example", scope=SuppressionScope.ALL, reason=SuppressionReason.COMPLAINT)
    suppression_add(email="bounced@mail.example", scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)
    addresses = [
        "new@mail.example",
        "pending2@mail.example",
        "active@mail.example",
        "unsubscribed@mail.example",
        "suppressed@mail.example",
        "bounced@mail.example",
    ]

    answers = []
    for address in addresses:
        response = _subscribe(Client(), address)
        followed = Client().get(response["Location"])
        headers = sorted((k, v) for k, v in response.headers.items() if k != "Date")
        answers.append(
            (response.status_code, tuple(headers), response.content, response.cookies.output(), followed.content)
        )

    assert len(set(answers)) == 1, "the public form must not reveal what it knows about an address"
    assert answers[0][0] == 302


def test_public_form_rejects_a_malformed_email_with_a_clear_message(client):
    response = _subscribe(client, "not-an-address")

    assert response.status_code == 200
    assert b"Enter a valid email address" in response.content
    assert not Subscription.objects.exists()


def test_public_form_is_rate_limited_per_address(settings):
    settings.SUBSCRIBE_RATE_PER_ADDRESS = "3/h"
    statuses = [_subscribe(Client(REMOTE_ADDR=f"198.51.100.{i}"), "same@mail.example").status_code for i in range(5)]

    assert statuses == [302, 302, 302, 429, 429]


def test_public_form_is_rate_limited_per_ip(client, settings):
    settings.SUBSCRIBE_RATE_PER_IP = "4/h"

    statuses = [_subscribe(client, f"person{i}@mail.example").status_code for i in range(6)]

    assert statuses == [302, 302, 302, 302, 429, 429]
    limited = _subscribe(client, "another@mail.example")
    assert b"Too many attempts" in limited.content
    assert Subscription.objects.count() == 4


def test_public_form_post_without_csrf_token_is_rejected():
    response = Client(enforce_csrf_checks=True).post("/newsletter/subscribe/", {"email": "x@mail.example"})

    assert response.status_code == 403
    assert not Subscription.objects.exists()


def test_expired_link_offers_a_new_link_for_the_same_topics_and_address(client, outbox, run_on_commit, monkeypatch):
    import time

    from subscribers.models import Subscriber, Topic
    from subscribers.services import subscription_request

    other = TopicFactory(name="Private Sales")
    subscriber = SubscriberFactory(email="late@mail.example")
    with run_on_commit():
        subscription_request(
            subscriber=subscriber,
            topics=[Topic.objects.get(is_default=True), other],
            source=ConsentSource.ACCOUNT_PAGE,
            wording=PUBLIC_SIGNUP,
        )
    old_link = CONFIRM_PATH.search(outbox.last_to("late@mail.example").text).group(0)
    later = time.time() + 8 * 86400
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)

    with run_on_commit():
        response = client.post(old_link, {"resend": "1"})

    assert response.status_code == 302 and response["Location"] == "/newsletter/subscribe/thanks/"
    fresh = outbox.last_to("late@mail.example")
    assert "General Subscription" in fresh.text and "Private Sales" in fresh.text
    new_link = CONFIRM_PATH.search(fresh.text).group(0)
    assert new_link != old_link
    monkeypatch.undo()
    assert client.post(old_link).status_code == 410, "the old link died"
    client.post(new_link)
    assert set(Subscriber.objects.get().subscriptions.values_list("status", flat=True)) == {"active"}


def test_a_forged_link_cannot_ask_for_a_new_one(client, pending_confirm_path, outbox):
    sent_before = len(outbox.all())

    response = client.post(pending_confirm_path[:-3] + "zz/", {"resend": "1"})

    assert response.status_code == 400
    assert len(outbox.all()) == sent_before
