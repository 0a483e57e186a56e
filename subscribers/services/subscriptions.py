"""Every change to a subscription: request (double opt-in), confirm, give, withdraw, preferences.

Each change writes its ConsentEvent in the same transaction. Emails are queued after commit.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from .. import events
from ..addresses import address_hmac, email_normalise
from ..fieldrules import FIRST_NAME
from ..links import absolute, preferences_url
from ..mail import transactional_email_send
from ..models import (
    ConsentSource,
    LawfulBasis,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    SuppressionScope,
    Topic,
    User,
)
from ..outbound import outbound_event_publish
from ..selectors import (
    email_hard_bounced,
    email_is_suppressed,
    marketing_suppressions_needing_explicit_request,
    third_party_objection_exists,
    topic_default,
)
from ..tokens import (
    CONFIRM_SALT,
    confirm_token_max_age,
    expiring_token_make,
    expiring_token_read,
    nonce_hash,
    nonce_new,
)
from ..wording import EXPLICIT_RESUBSCRIBE, MARKETING_OPT_IN, PUBLIC_SIGNUP, RESEND_BUTTON, THIRD_PARTY_OBJECTION
from .errors import ConfirmationLinkUsed, ExplicitRequestRequired, SuppressedAddressError
from .suppression import suppression_add, suppression_lift

# Paths where nobody is present to confirm: a suppressed address is refused outright. A request through the API is
# not one of them: like the public form's, it only sends a confirmation email, and the person's own click (with the
# explicit tick an erased or complained address needs) is what subscribes them. What the API may do unattended,
# subscribe with evidence of consent given elsewhere, refuses a suppressed address itself (services/consent.py).
UNATTENDED_SOURCES = (ConsentSource.IMPORT,)
MARKETING_SCOPES = (SuppressionScope.MARKETING, SuppressionScope.ALL)


def subscriber_get_or_create(*, email: str, first_name: str = "", user: User | None = None) -> Subscriber:
    """The subscriber for an address, created if new (and linked to ``user`` when given).

    An existing subscriber is never linked here: an account takes over a record only after proving the
    address (``email_change_confirm``). Raises FieldRuleError for a first name that breaks its rule.
    """
    email = email_normalise(email)
    first_name = FIRST_NAME.require(first_name, field="first_name")
    with transaction.atomic():
        subscriber, created = Subscriber.objects.get_or_create(
            email=email, defaults={"first_name": first_name, "user": user, "address_hmac": address_hmac(email)}
        )
        if created:
            outbound_event_publish(type="subscriber.created", subscriber=subscriber, data={})
    return subscriber


def subscription_event_data(subscription: Subscription) -> dict:
    """What an event about a subscription names: public ids and the topic's slug, never the address."""
    return {"subscription": str(subscription.public_id), "topic": subscription.topic.slug}


def subscription_request(
    *,
    subscriber: Subscriber,
    topics: list[Topic],
    source: ConsentSource,
    wording: str,
    ip: str | None = None,
    confirm_with_address_proof: str | None = None,
    detail: str = "",
) -> list[Subscription]:
    """Start double opt-in for each topic not already active, with one confirmation email for them all.

    Returns the subscriptions now pending. When every topic is already active, the person is sent a
    short notice with their preferences link instead, so the public form behaves the same either way.

    ``confirm_with_address_proof`` is the nonce hash of an address confirmation link (registration): the
    subscriptions wait for that link instead, and this sends no email of its own, so the person gets one
    email and clicks once (``subscription_confirm_with_address``). ``detail`` goes into each event (who asked).
    """
    if source in UNATTENDED_SOURCES and email_is_suppressed(email=subscriber.email, scopes=MARKETING_SCOPES):
        raise SuppressedAddressError("This address is suppressed and cannot be subscribed by an import.")
    if confirm_with_address_proof:
        nonce, hashed = None, confirm_with_address_proof  # the link is in the address confirmation email
    else:
        nonce, hashed = nonce_new()
    now = timezone.now()
    pending = []
    with transaction.atomic():
        for topic in topics:
            subscription, _ = Subscription.objects.select_for_update().get_or_create(subscriber=subscriber, topic=topic)
            if subscription.status == SubscriptionStatus.ACTIVE:
                continue
            subscription.status = SubscriptionStatus.PENDING
            subscription.confirm_nonce_hash = hashed
            subscription.requested_at = now
            subscription.save(update_fields=["status", "confirm_nonce_hash", "requested_at"])
            events.consent_requested_event(
                subscription=subscription, source=source, wording=wording, ip=ip, detail=detail
            )
            pending.append(subscription)
        if nonce is not None and _may_email(subscriber):
            if pending:
                _confirmation_email_send(subscriber=subscriber, subscriptions=pending, nonce=nonce)
            elif topics:
                transactional_email_send(
                    to=subscriber.email,
                    template="already_subscribed",
                    kind="already-subscribed",
                    context={"subscriber": subscriber, "preferences_url": preferences_url(subscriber=subscriber)},
                )
    return pending


def public_signup(*, email: str, first_name: str = "", ip: str | None = None) -> list[Subscription]:
    """The public signup form: double opt-in for the default topic, whatever the address's history."""
    subscriber = subscriber_get_or_create(email=email, first_name=first_name)
    return subscription_request(
        subscriber=subscriber, topics=[topic_default()], source=ConsentSource.PUBLIC_FORM, wording=PUBLIC_SIGNUP, ip=ip
    )


def _may_email(subscriber: Subscriber) -> bool:
    """Confirmation emails go to every address except one that hard-bounced: that would only bounce again."""
    return not email_hard_bounced(email=subscriber.email)


def _confirmation_email_send(*, subscriber: Subscriber, subscriptions: list[Subscription], nonce: str) -> None:
    token = expiring_token_make(nonce=nonce, salt=CONFIRM_SALT)
    transactional_email_send(
        to=subscriber.email,
        template="confirm_subscription",
        kind="confirm-subscription",
        context={
            "subscriber": subscriber,
            "topics": [s.topic for s in subscriptions],
            "confirm_url": absolute(reverse("newsletter:confirm", args=[token])),
            "expires_days": confirm_token_max_age().days,
        },
    )


def confirmation_pending_for_token(*, token: str) -> list[Subscription]:
    """The pending subscriptions a confirmation link would confirm. Raises TokenExpired / TokenInvalid,
    or ConfirmationLinkUsed when nothing is left to confirm. Changes nothing (for the GET page)."""
    return _pending_for_nonce(expiring_token_read(token=token, salt=CONFIRM_SALT, max_age=confirm_token_max_age()))


def _pending_for_nonce(nonce: str) -> list[Subscription]:
    subscriptions = list(
        Subscription.objects.filter(
            confirm_nonce_hash=nonce_hash(nonce), status=SubscriptionStatus.PENDING
        ).select_related("subscriber", "topic")
    )
    if not subscriptions:
        raise ConfirmationLinkUsed("This confirmation link has already been used.")
    return subscriptions


def confirmation_resend(*, token: str, ip: str | None = None) -> list[Subscription]:
    """Start the opt-in again, for the same topics, from a genuine confirmation link that has expired.

    The signature must be valid (the link was ours); only its age is ignored. Nothing is confirmed here:
    a fresh link goes to the same address, and the old one dies.
    """
    pending = _pending_for_nonce(expiring_token_read(token=token, salt=CONFIRM_SALT, max_age=None))
    return subscription_request(
        subscriber=pending[0].subscriber,
        topics=[s.topic for s in pending],
        source=ConsentSource.EMAIL_LINK,
        wording=RESEND_BUTTON,
        ip=ip,
    )


def subscription_confirm(
    *, token: str, source: ConsentSource, wording: str, ip: str | None = None, explicit_request: bool = False
) -> list[Subscription]:
    """Confirm the opt-in a link was sent for. The link dies with its first use.

    A confirmed opt-in lifts a marketing suppression recorded for an unsubscribe or a bounce. One recorded
    for a complaint, an erasure or by staff is lifted only with ``explicit_request`` (a separate tick box
    the person must choose on the confirmation page): see docs/subscriptions.md.
    """
    with transaction.atomic():
        pending = confirmation_pending_for_token(token=token)
        subscriptions = list(
            Subscription.objects.select_for_update()
            .filter(pk__in=[s.pk for s in pending], status=SubscriptionStatus.PENDING)
            .select_related("subscriber", "topic")
        )
        if not subscriptions:
            raise ConfirmationLinkUsed("This confirmation link has already been used.")
        subscriber = subscriptions[0].subscriber
        blocking = marketing_suppressions_needing_explicit_request(email=subscriber.email)
        if blocking and not explicit_request:
            raise ExplicitRequestRequired("Please tick the box to confirm you want marketing email again.")
        _subscriptions_activate(
            subscriptions=subscriptions, source=source, wording=wording, ip=ip, explicit=bool(blocking)
        )
    return subscriptions


def subscription_confirm_with_address(
    *, subscriber: Subscriber, address_proof: str, ip: str | None = None
) -> list[Subscription]:
    """Confirm the opt-ins ticked at registration, now that the link proving the address was used.

    ``address_proof`` is the nonce hash of the used address confirmation link; only the pending
    subscriptions requested with it (``subscription_request(confirm_with_address_proof=...)``) are confirmed.
    The click in the mailbox is the second step of double opt-in, so each gets a ``confirmed`` event with
    the registration wording (what the person agreed to), source ``email_link`` and the clicking IP.

    An address with a complaint, erasure or staff suppression needs the explicit tick that only the
    subscription confirmation page offers: those opt-ins are sent that page's email instead.
    """
    with transaction.atomic():
        subscriptions = list(
            Subscription.objects.select_for_update()
            .filter(subscriber=subscriber, status=SubscriptionStatus.PENDING, confirm_nonce_hash=address_proof)
            .select_related("subscriber", "topic")
            .order_by("pk")
        )
        if not subscriptions:
            return []
        if marketing_suppressions_needing_explicit_request(email=subscriber.email):
            subscription_request(
                subscriber=subscriber,
                topics=[s.topic for s in subscriptions],
                source=ConsentSource.EMAIL_LINK,
                wording=MARKETING_OPT_IN,
                ip=ip,
            )
            return []
        _subscriptions_activate(
            subscriptions=subscriptions,
            source=ConsentSource.EMAIL_LINK,
            wording=MARKETING_OPT_IN,
            ip=ip,
            explicit=False,
            detail="registration opt-in, confirmed with the address confirmation link",
        )
    return subscriptions


def _subscriptions_activate(
    *, subscriptions: list[Subscription], source, wording: str, ip, explicit: bool, detail: str = ""
) -> None:
    """Pending -> active after a click in the mailbox: events, the address marked proven, suppressions lifted."""
    subscriber = subscriptions[0].subscriber
    now = timezone.now()
    for subscription in subscriptions:
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.lawful_basis = LawfulBasis.CONSENT
        subscription.confirmed_at = now
        subscription.unsubscribed_at = None
        subscription.confirm_nonce_hash = ""
        subscription.save(
            update_fields=["status", "lawful_basis", "confirmed_at", "unsubscribed_at", "confirm_nonce_hash"]
        )
        events.consent_confirmed_event(
            subscription=subscription, source=source, wording=wording, ip=ip, detail=detail
        )
        outbound_event_publish(
            type="subscription.confirmed", subscriber=subscriber, data=subscription_event_data(subscription)
        )
    subscriber.email_confirmed_at = now
    subscriber.save(update_fields=["email_confirmed_at"])
    _lift_marketing_suppressions(subscriber=subscriber, explicit=explicit, mailbox_proven=True, source=source, ip=ip)


def _lift_marketing_suppressions(*, subscriber: Subscriber, explicit: bool, mailbox_proven: bool, source, ip) -> None:
    """After consent is given again: lift what that lifts; with an explicit request, the rest as well.

    An unsubscribe is lifted by new consent. A bounce only when the mailbox has just proven it receives
    mail (a confirmation link was clicked). Lifting an ``all`` suppression keeps the address off
    third-party sharing: agreeing to email again is not agreeing to be shared.
    """
    reasons = [SuppressionReason.UNSUBSCRIBED]
    if mailbox_proven:
        reasons.append(SuppressionReason.BOUNCE)
    if explicit:
        reasons += [SuppressionReason.COMPLAINT, SuppressionReason.ERASED, SuppressionReason.MANUAL]
    lifted = suppression_lift(email=subscriber.email, scopes=MARKETING_SCOPES, reasons=tuple(reasons))
    for suppression in lifted:
        if suppression.scope == SuppressionScope.ALL:
            suppression_add(email=subscriber.email, scope=SuppressionScope.THIRD_PARTY, reason=suppression.reason)
    if lifted:
        events.consent_re_consented_event(
            subscriber=subscriber,
            source=source,
            ip=ip,
            wording=EXPLICIT_RESUBSCRIBE if explicit else "",
            detail="Lifted suppression: " + ", ".join(sorted({s.reason for s in lifted})),
        )


def subscription_give(
    *, subscriber: Subscriber, topic: Topic, source: ConsentSource, wording: str, ip: str | None = None
) -> Subscription:
    """Consent given on the spot by the owner of an already confirmed address (no confirmation email)."""
    if subscriber.email_confirmed_at is None:
        raise ValueError("subscription_give needs a confirmed address; use subscription_request.")
    with transaction.atomic():
        subscription, _ = Subscription.objects.select_for_update().get_or_create(subscriber=subscriber, topic=topic)
        if subscription.status == SubscriptionStatus.ACTIVE:
            return subscription
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.lawful_basis = LawfulBasis.CONSENT
        subscription.confirmed_at = timezone.now()
        subscription.unsubscribed_at = None
        subscription.confirm_nonce_hash = ""
        subscription.save(
            update_fields=["status", "lawful_basis", "confirmed_at", "unsubscribed_at", "confirm_nonce_hash"]
        )
        events.consent_given_event(subscription=subscription, source=source, wording=wording, ip=ip)
        outbound_event_publish(
            type="subscription.confirmed", subscriber=subscriber, data=subscription_event_data(subscription)
        )
        _lift_marketing_suppressions(subscriber=subscriber, explicit=False, mailbox_proven=False, source=source, ip=ip)
    return subscription


def subscription_withdraw(
    *,
    subscription: Subscription,
    source: ConsentSource,
    ip: str | None = None,
    reason: str = "",
    wording: str = "",
) -> Subscription:
    """Withdraw consent for one topic, at once. Idempotent: withdrawing twice records one event.

    ``subscription`` is changed in place and returned. One conditional UPDATE locks, checks and changes the row: a
    second withdrawal waiting on that lock finds the row unsubscribed when it gets it (PostgreSQL checks the condition
    again on the row it waited for), changes nothing and writes no event. Only this subscription's row is locked, not
    its subscriber's or its topic's: a lock on the topic made every unsubscribe from one list wait for the commit of
    the one before (docs/BENCHMARKS.md, "Public endpoints under load").
    """
    with transaction.atomic():
        now = timezone.now()
        withdrawn = (
            Subscription.objects.filter(pk=subscription.pk)
            .exclude(status=SubscriptionStatus.UNSUBSCRIBED)
            .update(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=now, confirm_nonce_hash="")
        )
        if not withdrawn:
            subscription.refresh_from_db(fields=["status", "unsubscribed_at", "confirm_nonce_hash"])
            return subscription
        subscription.status = SubscriptionStatus.UNSUBSCRIBED
        subscription.unsubscribed_at = now
        subscription.confirm_nonce_hash = ""
        events.consent_withdrawn_event(subscription=subscription, source=source, wording=wording, ip=ip, reason=reason)
        outbound_event_publish(
            type="subscription.withdrawn",
            subscriber=subscription.subscriber,
            data=subscription_event_data(subscription),
        )
    return subscription


def subscriber_withdraw_all(
    *, subscriber: Subscriber, source: ConsentSource, ip: str | None = None, reason: str = "", wording: str = ""
) -> list[Subscription]:
    """Unsubscribe from every topic and suppress the address for marketing (reason: unsubscribed).

    Writes one event per topic withdrawn, and one for the address-wide suppression when it is new.
    """
    with transaction.atomic():
        withdrawn = [
            subscription_withdraw(subscription=s, source=source, ip=ip, reason=reason, wording=wording)
            for s in subscriber.subscriptions.exclude(status=SubscriptionStatus.UNSUBSCRIBED)
        ]
        if not email_is_suppressed(email=subscriber.email, scopes=MARKETING_SCOPES):
            suppression_add(
                email=subscriber.email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED
            )
            events.marketing_withdrawn_event(
                subscriber=subscriber, source=source, wording=wording, ip=ip, reason=reason
            )
    return withdrawn


def third_party_objection_set(
    *, subscriber: Subscriber, objects: bool, source: ConsentSource, ip: str | None = None, detail: str = ""
) -> bool:
    """Record or withdraw an objection to sharing with third parties. Returns True when something changed."""
    with transaction.atomic():
        exists = third_party_objection_exists(email=subscriber.email)
        if objects and not exists:
            suppression_add(
                email=subscriber.email, scope=SuppressionScope.THIRD_PARTY, reason=SuppressionReason.OBJECTED
            )
            events.third_party_objected_event(
                subscriber=subscriber, source=source, wording=THIRD_PARTY_OBJECTION, ip=ip, detail=detail
            )
            return True
        if not objects and exists:
            lifted = suppression_lift(
                email=subscriber.email, scopes=(SuppressionScope.THIRD_PARTY,), reasons=(SuppressionReason.OBJECTED,)
            )
            if lifted:
                events.third_party_objection_withdrawn_event(
                    subscriber=subscriber, source=source, wording=THIRD_PARTY_OBJECTION, ip=ip, detail=detail
                )
            return bool(lifted)
    return False


@dataclass
class PreferencesOutcome:
    """What saving the Newsletter Subscription page did, for the message shown afterwards."""

    given: list[Topic] = field(default_factory=list)
    confirmation_sent: list[Topic] = field(default_factory=list)
    withdrawn: list[Topic] = field(default_factory=list)
    third_party_changed: bool = False
    objection_kept: bool = False
    # Whether an objection to sharing with third parties is in force once saved (however it is stored: an
    # objection of the person's own, or an address-wide suppression).
    objection_in_force: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.given or self.confirmation_sent or self.withdrawn or self.third_party_changed)


def preferences_save(
    *,
    subscriber: Subscriber,
    offered_topics: list[Topic],
    wanted_topics: set[Topic],
    third_party_objection: bool,
    source: ConsentSource,
    wording: str,
    ip: str | None = None,
) -> PreferencesOutcome:
    """Apply the Newsletter Subscription page (account or preference centre) in one transaction.

    Unticking withdraws at once. Ticking activates at once when the address is already confirmed and
    nothing needs an explicit request; otherwise it starts double opt-in.
    """
    outcome = PreferencesOutcome()
    with transaction.atomic():
        current = {s.topic_id: s for s in subscriber.subscriptions.all()}
        needs_confirmation = subscriber.email_confirmed_at is None or bool(
            marketing_suppressions_needing_explicit_request(email=subscriber.email)
        )
        to_request = []
        for topic in offered_topics:
            subscription = current.get(topic.pk)
            status = subscription.status if subscription else None
            if topic in wanted_topics and status in (None, SubscriptionStatus.UNSUBSCRIBED):
                if needs_confirmation:
                    to_request.append(topic)
                else:
                    subscription_give(subscriber=subscriber, topic=topic, source=source, wording=wording, ip=ip)
                    outcome.given.append(topic)
            elif topic not in wanted_topics and status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING):
                subscription_withdraw(subscription=subscription, source=source, ip=ip, wording=wording)
                outcome.withdrawn.append(topic)
        if to_request:
            subscription_request(subscriber=subscriber, topics=to_request, source=source, wording=wording, ip=ip)
            outcome.confirmation_sent = to_request
        if not third_party_objection and subscriber.email_confirmed_at is None:
            # Anyone can type an address into a form; only its proven owner may lift an objection to sharing.
            outcome.objection_kept = third_party_objection_exists(email=subscriber.email)
        else:
            outcome.third_party_changed = third_party_objection_set(
                subscriber=subscriber, objects=third_party_objection, source=source, ip=ip
            )
        outcome.objection_in_force = third_party_objection_exists(email=subscriber.email)
    return outcome
