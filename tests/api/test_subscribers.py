"""Topics and subscribers through the API: the same services, rules and emails as the public form, the import and
staff, with the key as the actor."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from wagtail.models import ModelLogEntry

from subscribers.errors import ActionForbidden
from subscribers.models import (
    AccessExport,
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    ConsentSource,
    ErasureRecord,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from subscribers.selectors import third_party_objection_exists
from subscribers.services.consent import (
    subscriber_details_update,
    subscriber_objection_set,
    subscriber_signup,
    subscriber_unsubscribe_all,
)
from tests.factories import (
    ConfirmedSubscriberFactory,
    SubscriberFactory,
    SubscriptionFactory,
    TopicFactory,
    UserFactory,
)

from .conftest import error_of

pytestmark = pytest.mark.django_db
CONFIRM_PATH = re.compile(r"/newsletter/confirm/[^/\s]+/")
EVIDENCE = {"source": "Spring fair", "date": "2026-05-01", "wording": "Email me news and offers."}


@pytest.fixture
def general() -> Topic:
    return Topic.objects.get(is_default=True)


@pytest.fixture
def rings() -> Topic:
    return TopicFactory(slug="rings", name="Rings")


def confirm_by_email(client, outbox, address: str, *, explicit: bool = False):
    """Follow the link in the newest confirmation email and press the button, as the person does."""
    path = CONFIRM_PATH.search(outbox.last_to(address).text)[0]
    assert client.get(path).status_code == 200
    return client.post(path, {"explicit_resubscribe": "on"} if explicit else {})


def test_topics_are_listed_with_slug_name_description_and_whether_active(api_client, rings):
    TopicFactory(slug="retired", name="Retired", is_active=False)

    body = api_client("subscribers:read").get("/api/v1/topics/").json()

    by_slug = {topic["slug"]: topic for topic in body}
    assert by_slug["rings"] == {"slug": "rings", "name": "Rings", "description": "", "active": True}
    assert by_slug["retired"]["active"] is False
    assert by_slug["general"]["active"] is True


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("get", "/api/v1/topics/", "subscribers:read"),
        ("get", "/api/v1/subscribers/", "subscribers:read"),
        ("get", "/api/v1/subscribers/{id}/", "subscribers:read"),
        ("post", "/api/v1/subscribers/lookup/", "subscribers:read"),
        ("post", "/api/v1/subscribers/", "subscribers:write"),
        ("patch", "/api/v1/subscribers/{id}/", "subscribers:write"),
        ("put", "/api/v1/subscribers/{id}/topics/", "subscribers:write"),
        ("post", "/api/v1/subscribers/{id}/unsubscribe/", "subscribers:write"),
        ("post", "/api/v1/subscribers/{id}/objection/", "subscribers:write"),
        ("post", "/api/v1/subscribers/{id}/erase/", "privacy:write"),
        ("post", "/api/v1/subscribers/{id}/access-export/", "privacy:write"),
    ],
)
def test_every_endpoint_is_401_without_a_key_and_403_without_its_scope(api_client, method, path, scope):
    from api.scopes import SCOPE_NAMES

    from .conftest import client_for

    subscriber = SubscriptionFactory().subscriber
    path = path.format(id=subscriber.public_id)
    before = (ConsentEvent.objects.count(), Subscriber.objects.count(), ModelLogEntry.objects.count())

    assert getattr(client_for(None), method)(path, {}).status_code == 401
    assert getattr(client_for("nlk_bad"), method)(path, {}).status_code == 401
    others = [name for name in SCOPE_NAMES if name != scope]
    refused = getattr(api_client(*others), method)(path, {})
    assert refused.status_code == 403
    assert scope in error_of(refused)["message"]
    assert (ConsentEvent.objects.count(), Subscriber.objects.count(), ModelLogEntry.objects.count()) == before


def test_a_subscriber_created_through_the_api_confirms_by_email_like_the_forms(
    api_client, client, outbox, general, rings, django_capture_on_commit_callbacks
):
    # Given a sign-up through the API for two topics, by a key that may also read subscribers
    api = api_client("subscribers:read", "subscribers:write", name="Shop checkout")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/subscribers/", {"email": " Ada@Mail.Example ", "first_name": "Ada",
                                                      "topics": ["general", "rings"]})

    # Then it is pending, with one confirmation email, like the public form's
    assert response.status_code == 202
    body = response.json()
    assert body["email"] == "ada@mail.example" and body["first_name"] == "Ada"
    assert {(s["topic"], s["status"]) for s in body["subscriptions"]} == {("general", "pending"), ("rings", "pending")}
    assert len(outbox.to("ada@mail.example")) == 1
    requested = ConsentEvent.objects.filter(action=ConsentAction.REQUESTED)
    assert {(e.source, e.detail) for e in requested} == {(ConsentSource.API, "API key: Shop checkout")}

    # When the person follows the link in the email and confirms
    confirm_by_email(client, outbox, "ada@mail.example")

    # Then both topics are active, confirmed by the person's click
    subscriber = Subscriber.objects.get(public_id=body["public_id"])
    assert set(subscriber.subscriptions.values_list("status", flat=True)) == {SubscriptionStatus.ACTIVE}
    assert subscriber.email_confirmed_at is not None
    shown = api_client("subscribers:read").get(f"/api/v1/subscribers/{body['public_id']}/").json()
    assert all(s["status"] == "active" and s["confirmed_at"] for s in shown["subscriptions"])


def test_bad_input_on_create_names_the_field_and_changes_nothing(api_client, outbox):
    client = api_client("subscribers:write")

    cases = [
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@mail.example", "topics": ["no-such-topic"]}, "topics"),
        ({"email": "a@mail.example", "first_name": "Ada\nLovelace"}, "first_name"),
        ({"email": "a@mail.example", "consent": {"source": "Fair"}}, "consent.date"),
        ({"email": "a@mail.example", "consent": {"lawful_basis": "soft_opt_in"}}, "consent.order_reference"),
        ({"email": "a@mail.example", "consent": {**EVIDENCE, "date": "2999-01-01"}}, "consent.date"),
    ]
    for payload, field in cases:
        response = client.post("/api/v1/subscribers/", payload)
        assert response.status_code == 400, payload
        assert field in error_of(response)["fields"], (payload, response.json())
    assert not Subscriber.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_consent_evidence_subscribes_at_once_under_the_imports_rules(api_client, general, rings, outbox):
    response = api_client("subscribers:write", name="Till").post(
        "/api/v1/subscribers/", {"email": "fair@mail.example", "topics": ["rings"], "consent": EVIDENCE}
    )

    assert response.status_code == 201
    subscription = Subscription.objects.get(subscriber__email="fair@mail.example")
    assert (subscription.topic, subscription.status) == (rings, SubscriptionStatus.ACTIVE)
    event = ConsentEvent.objects.get(subscriber=subscription.subscriber)
    assert (event.action, event.source) == (ConsentAction.IMPORTED, ConsentSource.API)
    assert event.detail == "source: Spring fair; consent date: 2026-05-01; API key: Till"
    assert event.wording_hash and event.ip_truncated is None
    assert outbox.to("fair@mail.example") == []


def test_consent_evidence_leaves_a_withdrawn_topic_withdrawn(api_client, general):
    subscription = SubscriptionFactory(status=SubscriptionStatus.UNSUBSCRIBED)

    response = api_client("subscribers:write").post(
        "/api/v1/subscribers/", {"email": subscription.subscriber.email, "consent": EVIDENCE}
    )

    assert response.status_code == 201
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED


@pytest.mark.parametrize("with_evidence", [True, False])
def test_an_erased_address_never_comes_back_active_through_the_api_without_a_fresh_confirmed_opt_in(
    api_client, client, outbox, general, with_evidence, django_capture_on_commit_callbacks
):
    # Given a person erased through the API
    subscriber = SubscriptionFactory(subscriber__email="zoe@mail.example").subscriber
    writer = api_client("subscribers:write", "privacy:write")
    assert writer.post(f"/api/v1/subscribers/{subscriber.public_id}/erase/").status_code == 200
    assert Suppression.objects.filter(scope=SuppressionScope.ALL, reason=SuppressionReason.ERASED).exists()

    # When the address is sent again, with or without evidence
    payload = {"email": "ZOE@mail.example", **({"consent": EVIDENCE} if with_evidence else {})}
    with django_capture_on_commit_callbacks(execute=True):
        response = writer.post("/api/v1/subscribers/", payload)

    # Then evidence is refused, and without it only a confirmation request is made
    active = Subscription.objects.filter(subscriber__email="zoe@mail.example", status=SubscriptionStatus.ACTIVE)
    if with_evidence:
        assert response.status_code == 409
        assert error_of(response)["code"] == "suppressed"
        assert not Subscriber.objects.filter(email="zoe@mail.example").exists()
        return
    assert response.status_code == 202
    assert not active.exists()
    # A plain click is not enough after an erasure: the confirmation page asks for the explicit tick.
    confirm_by_email(client, outbox, "zoe@mail.example")
    assert not active.exists()
    confirm_by_email(client, outbox, "zoe@mail.example", explicit=True)
    assert active.count() == 1


def test_lookup_finds_a_subscriber_by_address_or_answers_404(api_client):
    subscriber = SubscriberFactory(email="grace@mail.example")
    client = api_client("subscribers:read")

    found = client.post("/api/v1/subscribers/lookup/", {"email": "Grace@Mail.Example"})
    missing = client.post("/api/v1/subscribers/lookup/", {"email": "nobody@mail.example"})

    assert found.status_code == 200 and found.json()["public_id"] == str(subscriber.public_id)
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert client.get(f"/api/v1/subscribers/{subscriber.public_id}/").json()["email"] == "grace@mail.example"
    assert client.get("/api/v1/subscribers/00000000-0000-7000-8000-000000000000/").status_code == 404


def test_the_list_walks_every_subscriber_once_and_filters_by_topic_and_status(api_client, rings):
    for _ in range(7):
        SubscriptionFactory()
    SubscriptionFactory(topic=rings, status=SubscriptionStatus.PENDING)
    SubscriptionFactory(topic=rings, status=SubscriptionStatus.ACTIVE)
    client = api_client("subscribers:read")

    seen, url = [], "/api/v1/subscribers/?page_size=3"
    while url:
        body = client.get(url).json()
        seen += [row["public_id"] for row in body["results"]]
        url = body["next"]
    pending = client.get("/api/v1/subscribers/?topic=rings&status=pending").json()["results"]
    bad = client.get("/api/v1/subscribers/?status=maybe")

    assert len(seen) == len(set(seen)) == Subscriber.objects.count() == 9
    assert [row["subscriptions"][0]["status"] for row in pending] == ["pending"]
    assert bad.status_code == 400 and "status" in error_of(bad)["fields"]


def test_patch_corrects_the_first_name_under_the_field_rule(api_client):
    subscriber = SubscriberFactory(first_name="Grace")
    client = api_client("subscribers:read", "subscribers:write")
    path = f"/api/v1/subscribers/{subscriber.public_id}/"

    assert client.patch(path, {"first_name": "  Ada "}).json()["first_name"] == "Ada"
    refused = client.patch(path, {"first_name": "x" * 151})

    assert refused.status_code == 400 and "first_name" in error_of(refused)["fields"]
    subscriber.refresh_from_db()
    assert subscriber.first_name == "Ada"


def test_setting_topics_writes_consent_events_with_source_api_and_the_key_name(
    api_client, outbox, general, rings, django_capture_on_commit_callbacks
):
    subscriber = SubscriptionFactory(subscriber__email="topics@mail.example").subscriber  # active on general
    client = api_client("subscribers:read", "subscribers:write", name="CRM sync")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.put(f"/api/v1/subscribers/{subscriber.public_id}/topics/", {"topics": ["rings"]})

    assert response.status_code == 200
    assert response.json()["requested"] == ["rings"] and response.json()["withdrawn"] == ["general"]
    events = {(e.topic.slug, e.action, e.source, e.detail) for e in ConsentEvent.objects.filter(subscriber=subscriber)}
    assert events == {
        ("general", ConsentAction.WITHDRAWN, ConsentSource.API, "API key: CRM sync"),
        ("rings", ConsentAction.REQUESTED, ConsentSource.API, "API key: CRM sync"),
    }
    # Adding a topic is double opt-in: pending, with a confirmation email.
    assert subscriber.subscriptions.get(topic=rings).status == SubscriptionStatus.PENDING
    assert len(outbox.to("topics@mail.example")) == 1


def test_unsubscribe_and_objection(api_client):
    subscriber = SubscriptionFactory().subscriber
    client = api_client("subscribers:read", "subscribers:write", "privacy:write", name="Shop account page")
    base = f"/api/v1/subscribers/{subscriber.public_id}"

    objected = client.post(f"{base}/objection/", {"objects": True}).json()
    unsubscribed = client.post(f"{base}/unsubscribe/").json()
    withdrawn = client.post(f"{base}/objection/", {"objects": False}).json()

    assert objected["objects_to_sharing"] is True
    assert [s["status"] for s in unsubscribed["subscriptions"]] == ["unsubscribed"]
    assert withdrawn["objects_to_sharing"] is False
    assert Suppression.objects.filter(scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED).exists()
    assert client.post(f"{base}/objection/", {}).status_code == 400
    # Each change to the objection names the key in the consent ledger, as topic changes do
    details = ConsentEvent.objects.filter(subscriber=subscriber, purpose=ConsentPurpose.THIRD_PARTY)
    assert sorted(details.values_list("action", "detail")) == [
        (ConsentAction.OBJECTED, "API key: Shop account page"),
        (ConsentAction.OBJECTION_WITHDRAWN, "API key: Shop account page"),
    ]


def test_a_key_that_may_only_change_subscriptions_records_an_objection_but_cannot_lift_one(api_client):
    # Given someone who objected to sharing, and a key with subscribers:write alone
    subscriber = SubscriptionFactory().subscriber
    client = api_client("subscribers:write")
    base = f"/api/v1/subscribers/{subscriber.public_id}"
    assert client.post(f"{base}/objection/", {"objects": True}).status_code == 200
    assert third_party_objection_exists(email=subscriber.email)

    # When it tries to lift the objection
    refused = client.post(f"{base}/objection/", {"objects": False})

    # Then it is refused naming the scope, and the objection stands
    assert refused.status_code == 403
    assert "privacy:write" in error_of(refused)["message"]
    assert client.get(f"{base}/").status_code == 403  # and it cannot read either: no subscribers:read
    assert third_party_objection_exists(email=subscriber.email)


def test_a_key_that_may_only_write_gets_back_the_id_and_nothing_of_the_record(
    api_client, general, rings, django_capture_on_commit_callbacks
):
    # Given a customer on record, with a name and topics, and a key with subscribers:write alone
    known = SubscriptionFactory(subscriber__email="known@mail.example", subscriber__first_name="Imogen").subscriber
    writer = api_client("subscribers:write")
    base = f"/api/v1/subscribers/{known.public_id}"

    # When it posts her address, with and without evidence, and makes each change the scope allows
    with django_capture_on_commit_callbacks(execute=True):
        answers = [
            writer.post("/api/v1/subscribers/", {"email": "known@mail.example"}),
            writer.post("/api/v1/subscribers/", {"email": "KNOWN@mail.example", "consent": EVIDENCE}),
            writer.patch(f"{base}/", {}),
            writer.post(f"{base}/objection/", {"objects": True}),
        ]
        topics = writer.put(f"{base}/topics/", {"topics": ["general", "rings"]})
        answers.append(writer.post(f"{base}/unsubscribe/"))

    # Then every answer names her by id only: nothing of her address, name or subscriptions comes back
    assert [answer.status_code for answer in answers] == [202, 201, 200, 200, 200]
    assert [answer.json() for answer in answers] == [{"public_id": str(known.public_id)}] * 5
    # (for topics, not what was requested, withdrawn or unchanged either: together they tell her topics before)
    assert topics.status_code == 200 and topics.json() == {"subscriber": {"public_id": str(known.public_id)}}
    assert not any("Imogen" in answer.content.decode() for answer in [*answers, topics])
    # and the changes were made: the scope still writes (rings was asked for, so she was sent a confirmation)
    assert ConsentEvent.objects.filter(subscriber=known, topic=rings, action=ConsentAction.REQUESTED).exists()
    assert third_party_objection_exists(email="known@mail.example")
    assert set(known.subscriptions.values_list("status", flat=True)) == {SubscriptionStatus.UNSUBSCRIBED}

    # A key that also reads gets the record from the same calls
    both = api_client("subscribers:read", "subscribers:write").patch(f"{base}/", {})
    assert both.json()["email"] == "known@mail.example" and both.json()["first_name"] == "Imogen"


def test_the_consent_services_refuse_an_actor_without_the_permission(general):
    # An actor is held to its permissions by the services themselves, whichever way in it came
    nobody = UserFactory()
    subscriber = SubscriptionFactory().subscriber
    for call in (
        lambda: subscriber_signup(email="x@mail.example", topics=[general], source=ConsentSource.API, actor=nobody),
        lambda: subscriber_details_update(subscriber=subscriber, first_name="Lin", actor=nobody),
        lambda: subscriber_unsubscribe_all(subscriber=subscriber, source=ConsentSource.API, actor=nobody),
        lambda: subscriber_objection_set(
            subscriber=subscriber, objects=True, source=ConsentSource.API, actor=nobody
        ),
    ):
        with pytest.raises(ActionForbidden):
            call()
    assert not Subscriber.objects.filter(email="x@mail.example").exists()
    assert subscriber.subscriptions.get().status == SubscriptionStatus.ACTIVE


def test_the_access_export_goes_to_the_persons_own_address_and_never_confirmed_ones_are_refused(
    api_client, outbox, django_capture_on_commit_callbacks
):
    confirmed = ConfirmedSubscriberFactory(email="copy@mail.example")
    unconfirmed = SubscriberFactory()
    client = api_client("privacy:write")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/subscribers/{confirmed.public_id}/access-export/")
    refused = client.post(f"/api/v1/subscribers/{unconfirmed.public_id}/access-export/")

    assert response.status_code == 202 and response.json() == {"status": "preparing"}
    assert "copy@mail.example" in outbox.last_to("copy@mail.example").to
    assert "/account/privacy/export/" in outbox.last_to("copy@mail.example").text or AccessExport.objects.get().ready_at
    assert refused.status_code == 409 and error_of(refused)["code"] == "access_export_refused"


def test_the_audit_log_names_the_key_for_every_api_write(api_client, general):
    client = api_client("subscribers:write", "privacy:write", name="Shop checkout")
    user = client.api_key.user

    created = client.post("/api/v1/subscribers/", {"email": "log@mail.example"}).json()
    base = f"/api/v1/subscribers/{created['public_id']}"
    client.patch(f"{base}/", {"first_name": "Lin"})
    client.post(f"{base}/objection/", {"objects": True})
    client.post(f"{base}/unsubscribe/")
    client.post(f"{base}/erase/")

    entries = ModelLogEntry.objects.filter(user=user).order_by("pk")
    assert list(entries.values_list("action", flat=True)) == [
        "subscribers.signup_request",
        "subscribers.details_update",
        "subscribers.objection_set",
        "subscribers.unsubscribe_all",
        "subscribers.erase",
    ]
    assert entries[0].user_display_name == "API key Shop checkout"
    assert not entries.filter(label__icontains="log@mail.example").exists()
    assert ErasureRecord.objects.get().performed_by == user


def test_a_repeated_create_with_an_idempotency_key_sends_one_email(
    api_client, outbox, general, django_capture_on_commit_callbacks
):
    client = api_client("subscribers:write")
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/v1/subscribers/", {"email": "once@mail.example"}, HTTP_IDEMPOTENCY_KEY="signup-1")
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post("/api/v1/subscribers/", {"email": "once@mail.example"}, HTTP_IDEMPOTENCY_KEY="signup-1")

    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert len(outbox.to("once@mail.example")) == 1
    assert ConsentEvent.objects.filter(action=ConsentAction.REQUESTED).count() == 1
    assert timezone.now() - Subscriber.objects.get().created_at < timedelta(minutes=1)


def test_a_kept_answer_about_someone_erased_since_is_replayed_as_erased_and_does_not_act_again(api_client, general):
    # Given answers kept for Idempotency-Keys: two naming Kit (her record, and a write-only key's receipt of her id),
    # and one about someone else
    officer = api_client("subscribers:read", "subscribers:write", "privacy:write")
    writer = api_client("subscribers:write")
    kit = {"email": "kit@mail.example", "first_name": "Kit"}
    first = officer.post("/api/v1/subscribers/", kit, HTTP_IDEMPOTENCY_KEY="kit-1")
    receipt = writer.post("/api/v1/subscribers/", kit, HTTP_IDEMPOTENCY_KEY="kit-2")
    # (about skit@..., whose address holds Kit's: only Kit's own answers go)
    other = officer.post("/api/v1/subscribers/", {"email": "skit@mail.example"}, HTTP_IDEMPOTENCY_KEY="skit-1")
    assert first.json()["first_name"] == "Kit" and receipt.json() == {"public_id": first.json()["public_id"]}

    # When Kit is erased, and both requests about her are retried with their keys
    assert officer.post(f"/api/v1/subscribers/{first.json()['public_id']}/erase/").status_code == 200
    replays = [
        officer.post("/api/v1/subscribers/", kit, HTTP_IDEMPOTENCY_KEY="kit-1"),
        writer.post("/api/v1/subscribers/", kit, HTTP_IDEMPOTENCY_KEY="kit-2"),
    ]

    # Then each replay says she was erased, gives nothing of hers back, and does not sign her up again
    for replay in replays:
        assert replay.status_code == 410 and replay["Idempotent-Replayed"] == "true"
        assert error_of(replay)["code"] == "erased"
        body = replay.content.decode()
        assert "kit@mail.example" not in body and "Kit" not in body and first.json()["public_id"] not in body
    assert not Subscriber.objects.filter(email="kit@mail.example").exists()
    assert ErasureRecord.objects.get().counts["api_answers_erased"] == 2
    # and the answer about someone else is kept as it was
    again = officer.post("/api/v1/subscribers/", {"email": "skit@mail.example"}, HTTP_IDEMPOTENCY_KEY="skit-1")
    assert again.json() == other.json()
