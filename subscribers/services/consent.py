"""Changes asked for by another system on a person's behalf (the REST API, or any caller that is not the person):
sign-up by double opt-in, subscription with evidence of consent given elsewhere, topics, details, unsubscribe,
objection and a copy of the data. Each takes ``actor`` (the user acting: for the API, the key's own user) and
``detail`` (who asked, written into each consent event), and writes the audit log with the actor.

They add no new rule: double opt-in is ``subscription_request`` (what the public form does), evidence follows the
CSV import's rules (docs/imports.md), and a suppressed address is never made active without the person's own click.
"""

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from mailer.addresses import address_for_transport

from .. import events
from ..addresses import email_normalise
from ..audit import SUBSCRIBER_LOG
from ..fieldrules import CONSENT_SOURCE, FIRST_NAME, ORDER_REFERENCE, FieldRuleError
from ..models import (
    AccessExport,
    ConsentSource,
    LawfulBasis,
    PrivacyPolicyVersion,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Topic,
)
from ..outbound import outbound_event_publish
from ..permissions import (
    RIGHTS_REQUEST_CHANGE,
    SUBSCRIBER_CHANGE,
    SUBSCRIPTION_ADD,
    SUBSCRIPTION_CHANGE,
    actor_require,
)
from ..selectors import email_is_suppressed
from ..wording import wording_hash
from .access_export import access_export_request
from .errors import SuppressedAddressError
from .subscriptions import (
    MARKETING_SCOPES,
    subscriber_get_or_create,
    subscriber_withdraw_all,
    subscription_event_data,
    subscription_request,
    subscription_withdraw,
    third_party_objection_set,
)


def _log(*, subscriber: Subscriber, action: str, actor, data: dict | None = None) -> None:
    # Named by public id, never by address: the log outlives the person (docs/roles.md).
    SUBSCRIBER_LOG.write(
        instance=subscriber, action=action, user=actor, data=data or {}, title=f"Subscriber {subscriber.public_id}"
    )


def _suppressed_for_marketing(email: str) -> bool:
    """Whether the address, in either spelling of an internationalised domain, is suppressed for marketing."""
    spellings = {email}
    with contextlib.suppress(ValueError):  # not an address a transport form exists for: the one spelling
        spellings.add(email_normalise(address_for_transport(email)))
    return any(email_is_suppressed(email=spelling, scopes=MARKETING_SCOPES) for spelling in spellings)


def subscriber_signup(
    *,
    email: str,
    first_name: str = "",
    topics: list[Topic],
    source: ConsentSource,
    wording: str = "",
    ip: str | None = None,
    detail: str = "",
    actor=None,
) -> tuple[Subscriber, list[Subscription]]:
    """Double opt-in for ``topics``, as the public form does: pending subscriptions and one confirmation email.

    Whatever the address's history: an unsubscribed, erased or complained address gets the same email, and only
    the person's click (with the explicit tick the confirmation page asks of an erased or complained address)
    makes anything active.
    """
    actor_require(actor, SUBSCRIPTION_ADD, action="sign someone up")
    with transaction.atomic():
        subscriber = subscriber_get_or_create(email=email, first_name=first_name)
        pending = subscription_request(
            subscriber=subscriber, topics=topics, source=source, wording=wording, ip=ip, detail=detail
        )
        _log(
            subscriber=subscriber,
            action="subscribers.signup_request",
            actor=actor,
            data={"topics": [t.slug for t in topics], "pending": [s.topic.slug for s in pending]},
        )
    return subscriber, pending


@dataclass(frozen=True)
class ConsentEvidence:
    """Consent given somewhere else, with what the CSV import asks for (docs/imports.md, "The evidence each row
    needs"): for consent, a source, a date and the wording or a policy version; for a soft opt-in, the order."""

    lawful_basis: str = LawfulBasis.CONSENT
    source: str = ""
    date: datetime | None = None
    wording: str = ""
    policy_version: str = ""
    order_reference: str = ""


@dataclass
class EvidenceOutcome:
    """What subscribing with evidence did per topic, in the import's words."""

    subscriber: Subscriber
    created: bool = False
    activated: list[str] = field(default_factory=list)  # new or pending subscriptions made active
    already_active: list[str] = field(default_factory=list)
    unsubscribed_earlier: list[str] = field(default_factory=list)  # kept: their withdrawal is newer evidence


def _evidence_check(evidence: ConsentEvidence) -> tuple[ConsentEvidence, PrivacyPolicyVersion | None]:
    """The evidence, normalised, and its policy version; FieldRuleError naming the first field at fault."""

    def fail(name: str, message: str):
        raise FieldRuleError(message, field=f"consent.{name}")

    if evidence.lawful_basis not in LawfulBasis.values:
        fail("lawful_basis", "Lawful basis must be “consent” or “soft_opt_in”.")
    source = evidence.source.strip()
    if problem := CONSENT_SOURCE.problem(source):
        fail("source", f"Consent source {problem}")
    order = ORDER_REFERENCE.normalise(evidence.order_reference)
    if problem := ORDER_REFERENCE.problem(order):
        fail("order_reference", f"Order reference {problem}")
    if evidence.date is not None and evidence.date > timezone.now():
        fail("date", "The consent date is in the future.")
    version = None
    if evidence.policy_version:
        version = PrivacyPolicyVersion.objects.filter(version=evidence.policy_version).first()
        if version is None:
            fail("policy_version", f"There is no privacy policy version “{evidence.policy_version[:20]}”.")
        if version.published_at > (evidence.date or timezone.now()):
            fail(
                "policy_version",
                f"Privacy policy version “{version.version}” took effect on {version.published_at:%Y-%m-%d}, after "
                "the consent date: it is not evidence of what the person read.",
            )
    if evidence.lawful_basis == LawfulBasis.CONSENT:
        missing = [
            (name, label)
            for name, label, present in (
                ("source", "consent source", source),
                ("date", "consent date", evidence.date),
                ("wording", "consent wording or privacy policy version", evidence.wording or version),
            )
            if not present
        ]
        if missing:
            fail(missing[0][0], "Missing consent evidence: no " + ", no ".join(label for _, label in missing) + ".")
    elif not order:
        fail("order_reference", "Missing evidence: a soft opt-in needs the order reference of the customer's purchase.")
    else:
        source = source or "order"
    return ConsentEvidence(evidence.lawful_basis, source, evidence.date, evidence.wording, "", order), version


def subscriptions_add_with_evidence(
    *,
    email: str,
    first_name: str = "",
    topics: list[Topic],
    evidence: ConsentEvidence,
    source: ConsentSource,
    detail: str = "",
    actor=None,
) -> EvidenceOutcome:
    """Subscribe an address to ``topics`` at once on evidence of consent given elsewhere, under the CSV import's
    rules: a suppressed address (unsubscribed from everything, erased, bounced, complained, suppressed by staff) is
    refused (SuppressedAddressError) and nothing is made; a topic the person unsubscribed from stays unsubscribed;
    an active one is left alone; each subscription made active gets one ``imported`` event with the evidence.
    """
    actor_require(actor, SUBSCRIPTION_ADD, action="subscribe someone on evidence of consent")
    evidence, version = _evidence_check(evidence)
    email = email_normalise(email)
    if _suppressed_for_marketing(email):
        raise SuppressedAddressError(
            "This address is suppressed (it unsubscribed from all email, was erased, bounced or complained), so it "
            "cannot be subscribed on evidence given elsewhere. Ask the person to sign up themselves: they will be "
            "sent a confirmation email."
        )
    hashed = wording_hash(evidence.wording) if evidence.wording else (wording_hash(version.text) if version else "")
    event_detail = f"source: {evidence.source}"
    if evidence.date is not None:
        event_detail += f"; consent date: {timezone.localtime(evidence.date).date().isoformat()}"
    if evidence.order_reference:
        event_detail += f"; order: {evidence.order_reference}"
    if detail:
        event_detail += f"; {detail}"
    with transaction.atomic():
        existed = Subscriber.objects.filter(email=email).exists()
        subscriber = subscriber_get_or_create(email=email, first_name=first_name)
        outcome = EvidenceOutcome(subscriber=subscriber, created=not existed)
        for topic in topics:
            subscription, _ = Subscription.objects.select_for_update().get_or_create(subscriber=subscriber, topic=topic)
            if subscription.status == SubscriptionStatus.ACTIVE:
                outcome.already_active.append(topic.slug)
                continue
            if subscription.status == SubscriptionStatus.UNSUBSCRIBED:
                outcome.unsubscribed_earlier.append(topic.slug)
                continue
            subscription.status = SubscriptionStatus.ACTIVE
            subscription.lawful_basis = evidence.lawful_basis
            subscription.confirmed_at = evidence.date or timezone.now()
            subscription.confirm_nonce_hash = ""
            subscription.save(update_fields=["status", "lawful_basis", "confirmed_at", "confirm_nonce_hash"])
            events.consent_imported_event(
                subscription=subscription,
                source=source,
                policy_version=version,
                wording_hash_value=hashed,
                detail=event_detail,
            )
            outbound_event_publish(
                type="subscription.confirmed", subscriber=subscriber, data=subscription_event_data(subscription)
            )
            outcome.activated.append(topic.slug)
        _log(
            subscriber=subscriber,
            action="subscribers.evidence_add",
            actor=actor,
            data={"activated": outcome.activated, "evidence": event_detail},
        )
    return outcome


def subscriber_details_update(*, subscriber: Subscriber, first_name: str, actor=None) -> Subscriber:
    """Correct a subscriber's first name (the same rule as every form's); logged with the fields, never values."""
    actor_require(actor, SUBSCRIBER_CHANGE, action="correct a subscriber's details")
    first_name = FIRST_NAME.require(first_name, field="first_name")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.first_name != first_name:
            subscriber.first_name = first_name
            subscriber.save(update_fields=["first_name"])
            _log(
                subscriber=subscriber, action="subscribers.details_update", actor=actor, data={"fields": ["first_name"]}
            )
    return subscriber


@dataclass
class TopicsOutcome:
    requested: list[str] = field(default_factory=list)  # a confirmation email asks the person
    withdrawn: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def subscriber_topics_set(
    *,
    subscriber: Subscriber,
    topics: list[Topic],
    source: ConsentSource,
    wording: str = "",
    ip: str | None = None,
    detail: str = "",
    actor=None,
) -> TopicsOutcome:
    """Make ``topics`` the subscriber's wanted topics: each topic added starts double opt-in (one confirmation email
    for them all; nothing is active until the person clicks), each topic removed is withdrawn at once. Every change
    is a consent event with ``source`` and ``detail``."""
    actor_require(actor, SUBSCRIPTION_CHANGE, action="change a subscriber's topics")
    outcome = TopicsOutcome()
    wanted = {topic.pk for topic in topics}
    with transaction.atomic():
        current = {s.topic_id: s for s in subscriber.subscriptions.select_related("topic")}
        for subscription in current.values():
            if subscription.topic_id not in wanted and subscription.status != SubscriptionStatus.UNSUBSCRIBED:
                subscription_withdraw(subscription=subscription, source=source, ip=ip, reason=detail, wording=wording)
                outcome.withdrawn.append(subscription.topic.slug)
        to_request = []
        for topic in topics:
            subscription = current.get(topic.pk)
            wanted_already = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
            if subscription is not None and subscription.status in wanted_already:
                outcome.unchanged.append(topic.slug)
            else:
                to_request.append(topic)
        if to_request:
            subscription_request(
                subscriber=subscriber, topics=to_request, source=source, wording=wording, ip=ip, detail=detail
            )
            outcome.requested = [topic.slug for topic in to_request]
        if outcome.requested or outcome.withdrawn:
            _log(
                subscriber=subscriber,
                action="subscribers.topics_set",
                actor=actor,
                data={"requested": outcome.requested, "withdrawn": outcome.withdrawn},
            )
    return outcome


def subscriber_unsubscribe_all(
    *, subscriber: Subscriber, source: ConsentSource, ip: str | None = None, detail: str = "", actor=None
) -> list[Subscription]:
    """Unsubscribe from every topic and suppress the address for marketing (``subscriber_withdraw_all``), logged."""
    actor_require(actor, SUBSCRIPTION_CHANGE, action="unsubscribe someone")
    with transaction.atomic():
        withdrawn = subscriber_withdraw_all(subscriber=subscriber, source=source, ip=ip, reason=detail)
        _log(
            subscriber=subscriber,
            action="subscribers.unsubscribe_all",
            actor=actor,
            data={"withdrawn": [s.topic.slug for s in withdrawn]},
        )
    return withdrawn


def subscriber_objection_set(
    *,
    subscriber: Subscriber,
    objects: bool,
    source: ConsentSource,
    ip: str | None = None,
    detail: str = "",
    actor=None,
) -> bool:
    """Record or withdraw the person's objection to sharing with third parties (``third_party_objection_set``),
    logged when it changed something. Returns whether it did.

    Recording one needs the right to change subscriptions; lifting one, on the person's behalf, lets their details
    flow to partners again, so it needs the privacy officer's right to handle requests (``change_rightsrequest``)."""
    if objects:
        actor_require(actor, SUBSCRIPTION_CHANGE, action="record an objection to sharing")
    else:
        actor_require(actor, RIGHTS_REQUEST_CHANGE, action="lift a person's objection to sharing")
    with transaction.atomic():
        changed = third_party_objection_set(
            subscriber=subscriber, objects=objects, source=source, ip=ip, detail=detail
        )
        if changed:
            _log(subscriber=subscriber, action="subscribers.objection_set", actor=actor, data={"objects": objects})
    return changed


def subscriber_access_export_request(*, subscriber: Subscriber, actor=None) -> AccessExport:
    """Prepare a copy of the person's data and email its link to their own confirmed address, as the self-service
    path does (``access_export_request``); refused (AccessExportError) for an address never confirmed. Logged."""
    actor_require(actor, RIGHTS_REQUEST_CHANGE, action="send someone a copy of their data")
    with transaction.atomic():
        export = access_export_request(subscriber=subscriber, requested_by=actor)
        _log(
            subscriber=subscriber, action="subscribers.access_export_request", actor=actor, data={"export": export.pk}
        )
    return export
