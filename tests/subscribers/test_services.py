"""Subscription services: every transition, idempotency, ledger rows, suppression rules, emails."""

import re

import pytest
from django.utils import timezone

from subscribers.addresses import AddressHasher, address_hmac
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    ConsentSource,
    PrivacyPolicyVersion,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
)
from subscribers.services import (
    ConfirmationLinkUsed,
    ExplicitRequestRequired,
    SuppressedAddressError,
    preferences_save,
    subscriber_get_or_create,
    subscriber_withdraw_all,
    subscription_confirm,
    subscription_request,
    subscription_withdraw,
    suppression_add,
    third_party_objection_set,
)
from subscribers.tokens import TokenExpired, TokenInvalid
from subscribers.wording import CONFIRM_BUTTON, PUBLIC_SIGNUP, TOPIC_TICKBOX, wording_hash
from tests.factories import ConfirmedSubscriberFactory, SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

CONFIRM_LINK = re.compile(r"/newsletter/confirm/([^/\s]+)/")


def request_and_get_token(subscriber, topics, run_on_commit, outbox, source=ConsentSource.PUBLIC_FORM):
    with run_on_commit():
        subscription_request(
            subscriber=subscriber, topics=topics, source=source, wording=PUBLIC_SIGNUP, ip="203.0.113.77"
        )
    return CONFIRM_LINK.search(outbox.last_to(subscriber.email).text).group(1)


def events(subscriber, action=None):
    qs = ConsentEvent.objects.filter(subscriber=subscriber)
    return list(qs.filter(action=action) if action else qs)


def test_request_creates_pending_subscription_and_ledger_row_with_policy_wording_and_truncated_ip(
    general, run_on_commit, outbox
):
    subscriber = SubscriberFactory()

    request_and_get_token(subscriber, [general], run_on_commit, outbox)

    subscription = Subscription.objects.get(subscriber=subscriber, topic=general)
    assert subscription.status == SubscriptionStatus.PENDING
    assert subscription.confirmed_at is None
    (event,) = events(subscriber)
    assert event.action == ConsentAction.REQUESTED
    assert event.purpose == ConsentPurpose.MARKETING
    assert event.source == ConsentSource.PUBLIC_FORM
    assert event.topic == general
    assert event.policy_version == PrivacyPolicyVersion.objects.latest()
    assert event.wording_hash == wording_hash(PUBLIC_SIGNUP)
    assert event.ip_truncated == "203.0.113.0"


def test_confirmation_email_goes_through_ses_with_a_link_and_no_address_in_the_token(general, run_on_commit, outbox):
    subscriber = SubscriberFactory(email="lin@mail.example")

    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)

    message = outbox.last_to("lin@mail.example")
    assert "confirm" in message.subject.lower()
    assert "General Subscription" in message.text
    assert f"/newsletter/confirm/{token}/" in message.html
    assert "lin" not in token.lower() and "mail.example" not in token


def test_confirm_activates_records_event_and_marks_address_confirmed(general, run_on_commit, outbox):
    subscriber = SubscriberFactory()
    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)

    confirmed = subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)

    subscription = Subscription.objects.get(pk=confirmed[0].pk)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.confirmed_at is not None
    assert subscription.confirm_nonce_hash == ""
    subscriber.refresh_from_db()
    assert subscriber.email_confirmed_at is not None
    assert len(events(subscriber, ConsentAction.CONFIRMED)) == 1


def test_confirm_token_dies_once_used(general, run_on_commit, outbox):
    subscriber = SubscriberFactory()
    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)
    subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)

    with pytest.raises(ConfirmationLinkUsed):
        subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)
    assert len(events(subscriber, ConsentAction.CONFIRMED)) == 1


def test_old_confirm_token_cannot_confirm_a_later_opt_in(general, run_on_commit, outbox):
    subscriber = SubscriberFactory()
    first = request_and_get_token(subscriber, [general], run_on_commit, outbox)
    subscription_confirm(token=first, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)
    subscription_withdraw(subscription=subscriber.subscriptions.get(), source=ConsentSource.ACCOUNT_PAGE)
    request_and_get_token(subscriber, [general], run_on_commit, outbox)

    with pytest.raises(ConfirmationLinkUsed):
        subscription_confirm(token=first, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)
    assert subscriber.subscriptions.get().status == SubscriptionStatus.PENDING


def test_confirm_token_expires_after_the_configured_days(general, run_on_commit, outbox, settings, monkeypatch):
    subscriber = SubscriberFactory()
    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)
    settings.CONFIRM_TOKEN_MAX_AGE_DAYS = 7
    eight_days_later = timezone.now().timestamp() + 8 * 86400
    monkeypatch.setattr("django.core.signing.time.time", lambda: eight_days_later)

    with pytest.raises(TokenExpired):
        subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)
    assert subscriber.subscriptions.get().status == SubscriptionStatus.PENDING


def test_confirm_token_is_valid_just_before_expiry(general, run_on_commit, outbox, monkeypatch):
    subscriber = SubscriberFactory()
    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)
    six_days_later = timezone.now().timestamp() + 6 * 86400
    monkeypatch.setattr("django.core.signing.time.time", lambda: six_days_later)

    subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)

    assert subscriber.subscriptions.get().status == SubscriptionStatus.ACTIVE


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: "x" + t,  # value changed
        lambda t: t.split(".")[0],  # signature removed
        lambda t: "",
    ],
)
def test_tampered_confirm_tokens_are_rejected(general, run_on_commit, outbox, mangle):
    subscriber = SubscriberFactory()
    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)

    with pytest.raises(TokenInvalid):
        subscription_confirm(token=mangle(token), source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)
    assert subscriber.subscriptions.get().status == SubscriptionStatus.PENDING


def test_tokens_are_salted_per_purpose_so_one_purpose_cannot_stand_in_for_another(general):
    from subscribers.tokens import (
        CONFIRM_SALT,
        PREFERENCES_SALT,
        UNSUBSCRIBE_SALT,
        confirm_token_max_age,
        expiring_token_read,
        public_token_make,
        public_token_read,
    )

    subscription = SubscriptionFactory()
    unsubscribe = public_token_make(public_id=subscription.public_id, salt=UNSUBSCRIBE_SALT)

    assert public_token_read(token=unsubscribe, salt=UNSUBSCRIBE_SALT) == subscription.public_id.hex
    with pytest.raises(TokenInvalid):
        public_token_read(token=unsubscribe, salt=PREFERENCES_SALT)
    with pytest.raises(TokenInvalid):
        expiring_token_read(token=unsubscribe, salt=CONFIRM_SALT, max_age=confirm_token_max_age())


def test_request_for_an_active_topic_changes_nothing_and_sends_a_notice(general, run_on_commit, outbox):
    subscription = SubscriptionFactory()
    subscriber = subscription.subscriber

    with run_on_commit():
        pending = subscription_request(
            subscriber=subscriber, topics=[general], source=ConsentSource.PUBLIC_FORM, wording=PUBLIC_SIGNUP
        )

    assert pending == []
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert events(subscriber) == []
    assert "already subscribed" in outbox.last_to(subscriber.email).subject


def test_one_confirmation_covers_several_topics(general, run_on_commit, outbox):
    other = TopicFactory(name="Private Sales")
    subscriber = SubscriberFactory()
    token = request_and_get_token(subscriber, [general, other], run_on_commit, outbox)

    subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)

    assert len(outbox.to(subscriber.email)) == 1
    assert set(subscriber.subscriptions.values_list("status", flat=True)) == {SubscriptionStatus.ACTIVE}
    assert len(events(subscriber, ConsentAction.CONFIRMED)) == 2


def test_withdraw_is_immediate_and_idempotent(general):
    subscription = SubscriptionFactory()

    subscription_withdraw(subscription=subscription, source=ConsentSource.ACCOUNT_PAGE, reason="too_many")
    subscription_withdraw(subscription=subscription, source=ConsentSource.ACCOUNT_PAGE, reason="too_many")

    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
    assert subscription.unsubscribed_at is not None
    (event,) = events(subscription.subscriber)
    assert event.action == ConsentAction.WITHDRAWN and event.detail == "too_many"


def test_withdrawing_a_pending_subscription_kills_its_confirmation_link(general, run_on_commit, outbox):
    subscriber = SubscriberFactory()
    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)

    subscription_withdraw(subscription=subscriber.subscriptions.get(), source=ConsentSource.ACCOUNT_PAGE)

    with pytest.raises(ConfirmationLinkUsed):
        subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)


def test_withdraw_all_unsubscribes_every_topic_and_suppresses_marketing(general):
    subscription = SubscriptionFactory()
    SubscriptionFactory(subscriber=subscription.subscriber, topic=TopicFactory())

    subscriber_withdraw_all(subscriber=subscription.subscriber, source=ConsentSource.EMAIL_LINK)

    assert set(subscription.subscriber.subscriptions.values_list("status", flat=True)) == {"unsubscribed"}
    suppression = Suppression.objects.get(address_hmac=address_hmac(subscription.subscriber.email))
    assert (suppression.scope, suppression.reason) == (SuppressionScope.MARKETING, SuppressionReason.UNSUBSCRIBED)


def test_suppression_stores_only_a_keyed_hmac_of_the_normalised_address(settings):
    suppression_add(email="  Mixed.Case@Mail.Example ", scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)

    stored = Suppression.objects.get()
    assert stored.address_hmac == address_hmac("mixed.case@mail.example")
    assert "mail.example" not in stored.address_hmac
    settings.SUPPRESSION_HMAC_KEY = "another key"
    assert address_hmac("mixed.case@mail.example") != stored.address_hmac


@pytest.mark.parametrize("key", ["k", "a key of exactly sixty-four bytes, the block size of SHA-256, ok", "x" * 200])
def test_the_import_hasher_gives_exactly_the_address_hmac(settings, key):
    settings.SUPPRESSION_HMAC_KEY = key
    hasher = AddressHasher()

    for email in ("ann@mail.example", "zoë@bücher.example", ""):
        assert hasher(email) == address_hmac(email)


def test_the_import_hasher_needs_the_key(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.SUPPRESSION_HMAC_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="SUPPRESSION_HMAC_KEY is empty"):
        AddressHasher()


def test_suppressed_address_cannot_be_subscribed_by_import(general):
    subscriber = SubscriberFactory()
    suppression_add(email=subscriber.email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED)

    with pytest.raises(SuppressedAddressError):
        subscription_request(subscriber=subscriber, topics=[general], source=ConsentSource.IMPORT, wording="")
    assert not Subscription.objects.filter(subscriber=subscriber).exists()
    assert events(subscriber) == []


def test_a_suppressed_address_asked_for_through_the_api_only_gets_a_confirmation_request(general):
    # Like the public form: pending, with a confirmation email; only the person's click can make it active.
    subscriber = SubscriberFactory()
    suppression_add(email=subscriber.email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED)

    pending = subscription_request(subscriber=subscriber, topics=[general], source=ConsentSource.API, wording="")

    assert [s.status for s in pending] == [SubscriptionStatus.PENDING]
    assert not Subscription.objects.filter(subscriber=subscriber, status=SubscriptionStatus.ACTIVE).exists()


def test_confirmed_public_opt_in_lifts_an_unsubscribed_suppression(general, run_on_commit, outbox):
    subscriber = SubscriberFactory()
    suppression_add(email=subscriber.email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED)
    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)

    subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)

    assert not Suppression.objects.exists()
    assert len(events(subscriber, ConsentAction.RE_CONSENTED)) == 1


@pytest.mark.parametrize("reason", [SuppressionReason.COMPLAINT, SuppressionReason.ERASED])
def test_complaint_or_erasure_suppression_needs_an_explicit_confirmed_request(general, run_on_commit, outbox, reason):
    subscriber = SubscriberFactory()
    suppression_add(email=subscriber.email, scope=SuppressionScope.ALL, reason=reason)
    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)

    with pytest.raises(ExplicitRequestRequired):
        subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)
    assert subscriber.subscriptions.get().status == SubscriptionStatus.PENDING
    assert Suppression.objects.get().scope == SuppressionScope.ALL

    subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON, explicit_request=True)

    assert subscriber.subscriptions.get().status == SubscriptionStatus.ACTIVE
    # Agreeing to email again is not agreeing to be shared: the third-party part of "all" stays.
    remaining = Suppression.objects.get()
    assert remaining.scope == SuppressionScope.THIRD_PARTY
    assert len(events(subscriber, ConsentAction.RE_CONSENTED)) == 1


def test_no_confirmation_email_goes_to_a_hard_bounced_address(general, run_on_commit, outbox):
    subscriber = SubscriberFactory()
    suppression_add(email=subscriber.email, scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)

    with run_on_commit():
        subscription_request(
            subscriber=subscriber, topics=[general], source=ConsentSource.PUBLIC_FORM, wording=PUBLIC_SIGNUP
        )

    assert outbox.to(subscriber.email) == []


def test_third_party_objection_suppresses_sharing_and_can_be_withdrawn(general):
    subscriber = ConfirmedSubscriberFactory()

    assert third_party_objection_set(subscriber=subscriber, objects=True, source=ConsentSource.ACCOUNT_PAGE)
    assert not third_party_objection_set(subscriber=subscriber, objects=True, source=ConsentSource.ACCOUNT_PAGE)
    assert Suppression.objects.get().scope == SuppressionScope.THIRD_PARTY

    assert third_party_objection_set(subscriber=subscriber, objects=False, source=ConsentSource.ACCOUNT_PAGE)
    assert not Suppression.objects.exists()
    actions = [e.action for e in events(subscriber)]
    assert sorted(actions) == [ConsentAction.OBJECTED, ConsentAction.OBJECTION_WITHDRAWN]
    assert {e.purpose for e in events(subscriber)} == {ConsentPurpose.THIRD_PARTY}


def test_preferences_unticking_withdraws_at_once_and_ticking_is_immediate_for_a_confirmed_address(general):
    other = TopicFactory(name="New Collections")
    subscription = SubscriptionFactory()
    subscriber = subscription.subscriber

    outcome = preferences_save(
        subscriber=subscriber,
        offered_topics=[general, other],
        wanted_topics={other},
        third_party_objection=False,
        source=ConsentSource.ACCOUNT_PAGE,
        wording=TOPIC_TICKBOX,
    )

    assert outcome.withdrawn == [general] and outcome.given == [other]
    statuses = dict(subscriber.subscriptions.values_list("topic__name", "status"))
    assert statuses == {"General Subscription": "unsubscribed", "New Collections": "active"}
    assert len(events(subscriber, ConsentAction.GIVEN)) == 1


def test_preferences_ticking_starts_double_opt_in_for_an_unconfirmed_address(general, run_on_commit, outbox):
    subscriber = SubscriberFactory()

    with run_on_commit():
        outcome = preferences_save(
            subscriber=subscriber,
            offered_topics=[general],
            wanted_topics={general},
            third_party_objection=False,
            source=ConsentSource.ACCOUNT_PAGE,
            wording=TOPIC_TICKBOX,
        )

    assert outcome.confirmation_sent == [general]
    assert subscriber.subscriptions.get().status == SubscriptionStatus.PENDING
    assert CONFIRM_LINK.search(outbox.last_to(subscriber.email).text)


def test_preferences_saved_twice_write_no_second_event(general):
    subscription = SubscriptionFactory()
    kwargs = dict(
        subscriber=subscription.subscriber,
        offered_topics=[general],
        wanted_topics=set(),
        third_party_objection=True,
        source=ConsentSource.ACCOUNT_PAGE,
        wording=TOPIC_TICKBOX,
    )

    first = preferences_save(**kwargs)
    second = preferences_save(**kwargs)

    assert first.changed and not second.changed
    assert len(events(subscription.subscriber)) == 2  # one withdrawal, one objection


def test_subscriber_email_is_normalised_so_one_mailbox_is_one_subscriber():
    first = subscriber_get_or_create(email=" Ada@Mail.Example ")
    second = subscriber_get_or_create(email="ada@mail.example")

    assert first.pk == second.pk and first.email == "ada@mail.example"


def test_consent_ledger_is_append_only(general):
    subscription = SubscriptionFactory()
    subscription_withdraw(subscription=subscription, source=ConsentSource.ACCOUNT_PAGE)
    event = ConsentEvent.objects.get()

    event.detail = "forged"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        ConsentEvent.objects.update(detail="forged")
    with pytest.raises(TypeError):
        ConsentEvent.objects.all().delete()
    assert ConsentEvent.objects.get().detail == ""


def test_a_stronger_suppression_reason_replaces_a_weaker_one_but_never_the_reverse():
    email = "reader@mail.example"
    suppression_add(email=email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED)
    suppression_add(email=email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.COMPLAINT)
    suppression_add(email=email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED)

    assert Suppression.objects.get().reason == SuppressionReason.COMPLAINT


def test_consent_given_on_the_account_page_lifts_an_unsubscribe_but_not_a_bounce(general):
    from subscribers.services import subscription_give

    subscriber = ConfirmedSubscriberFactory()
    suppression_add(email=subscriber.email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED)
    suppression_add(email=subscriber.email, scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)

    subscription_give(subscriber=subscriber, topic=general, source=ConsentSource.ACCOUNT_PAGE, wording=TOPIC_TICKBOX)

    remaining = Suppression.objects.get()
    assert (remaining.scope, remaining.reason) == (SuppressionScope.ALL, SuppressionReason.BOUNCE)


def test_an_unproven_address_cannot_lift_an_objection_to_sharing(general):
    subscriber = SubscriberFactory()  # email never confirmed
    suppression_add(email=subscriber.email, scope=SuppressionScope.THIRD_PARTY, reason=SuppressionReason.OBJECTED)

    outcome = preferences_save(
        subscriber=subscriber,
        offered_topics=[general],
        wanted_topics=set(),
        third_party_objection=False,
        source=ConsentSource.PREFERENCE_CENTRE,
        wording=TOPIC_TICKBOX,
    )

    assert outcome.objection_kept and not outcome.third_party_changed
    assert Suppression.objects.get().scope == SuppressionScope.THIRD_PARTY
    assert events(subscriber) == []


def test_confirm_token_lifetime_is_configurable(general, run_on_commit, outbox, settings, monkeypatch):
    settings.CONFIRM_TOKEN_MAX_AGE_DAYS = 2
    subscriber = SubscriberFactory()
    token = request_and_get_token(subscriber, [general], run_on_commit, outbox)
    assert "2 days" in outbox.last_to(subscriber.email).text
    three_days_later = timezone.now().timestamp() + 3 * 86400
    monkeypatch.setattr("django.core.signing.time.time", lambda: three_days_later)

    with pytest.raises(TokenExpired):
        subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)


def test_leaving_everything_with_nothing_active_still_records_the_suppression_in_the_ledger(general):
    subscriber = SubscriberFactory()

    subscriber_withdraw_all(subscriber=subscriber, source=ConsentSource.EMAIL_LINK, reason="never_signed_up")
    subscriber_withdraw_all(subscriber=subscriber, source=ConsentSource.EMAIL_LINK, reason="never_signed_up")

    (event,) = events(subscriber)
    assert (event.action, event.topic, event.detail) == (
        ConsentAction.WITHDRAWN,
        None,
        "all marketing email: never_signed_up",
    )
    assert Suppression.objects.get().reason == SuppressionReason.UNSUBSCRIBED


def test_confirming_again_records_consent_as_the_lawful_basis(general, run_on_commit, outbox):
    from subscribers.models import LawfulBasis

    subscription = SubscriptionFactory(status=SubscriptionStatus.UNSUBSCRIBED, lawful_basis=LawfulBasis.SOFT_OPT_IN)
    token = request_and_get_token(subscription.subscriber, [general], run_on_commit, outbox)

    subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)

    subscription.refresh_from_db()
    assert (subscription.status, subscription.lawful_basis) == (SubscriptionStatus.ACTIVE, LawfulBasis.CONSENT)


def test_list_unsubscribe_headers_follow_rfc_8058_and_their_url_unsubscribes(client):
    from subscribers.links import list_unsubscribe_headers

    subscription = SubscriptionFactory()

    headers = list_unsubscribe_headers(subscription=subscription)

    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(http[^>]+)>", headers["List-Unsubscribe"]).group(1)
    assert "/newsletter/unsubscribe/" in url and subscription.subscriber.email not in url
    from django.test import Client

    path = re.sub(r"^https?://[^/]+", "", url)
    assert Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED


def test_every_way_of_creating_a_subscriber_records_the_address_hmac(client, run_on_commit, outbox):
    from subscribers.models import Subscriber

    made = subscriber_get_or_create(email="Made@Mail.Example")

    assert made.address_hmac == address_hmac("made@mail.example")
    assert not Subscriber.objects.filter(address_hmac="").exists()
