"""One function per consent event. Each writes one append-only ConsentEvent row.

Callers are services, inside the same transaction as the change the event records.
"""

from .addresses import ip_truncate
from .models import ConsentAction, ConsentEvent, ConsentPurpose, ConsentSource, Subscriber, Subscription
from .selectors import policy_version_current
from .wording import wording_hash


def _record(
    *,
    subscriber: Subscriber,
    action: str,
    purpose: str,
    source: ConsentSource,
    subscription: Subscription | None = None,
    wording: str = "",
    ip: str | None = None,
    detail: str = "",
) -> ConsentEvent:
    return ConsentEvent.objects.create(
        subscriber=subscriber,
        topic=subscription.topic if subscription else None,
        purpose=purpose,
        action=action,
        source=source,
        policy_version=policy_version_current(),
        wording_hash=wording_hash(wording) if wording else "",
        ip_truncated=ip_truncate(ip),
        detail=detail[:255],
    )


def consent_requested_event(*, subscription: Subscription, source, wording: str, ip=None) -> ConsentEvent:
    return _record(
        subscriber=subscription.subscriber,
        subscription=subscription,
        action=ConsentAction.REQUESTED,
        purpose=ConsentPurpose.MARKETING,
        source=source,
        wording=wording,
        ip=ip,
    )


def consent_confirmed_event(*, subscription: Subscription, source, wording: str, ip=None) -> ConsentEvent:
    return _record(
        subscriber=subscription.subscriber,
        subscription=subscription,
        action=ConsentAction.CONFIRMED,
        purpose=ConsentPurpose.MARKETING,
        source=source,
        wording=wording,
        ip=ip,
    )


def consent_given_event(*, subscription: Subscription, source, wording: str, ip=None) -> ConsentEvent:
    return _record(
        subscriber=subscription.subscriber,
        subscription=subscription,
        action=ConsentAction.GIVEN,
        purpose=ConsentPurpose.MARKETING,
        source=source,
        wording=wording,
        ip=ip,
    )


def consent_withdrawn_event(*, subscription: Subscription, source, ip=None, reason: str = "") -> ConsentEvent:
    return _record(
        subscriber=subscription.subscriber,
        subscription=subscription,
        action=ConsentAction.WITHDRAWN,
        purpose=ConsentPurpose.MARKETING,
        source=source,
        ip=ip,
        detail=reason,
    )


def consent_re_consented_event(*, subscriber: Subscriber, source, wording: str, ip=None, detail="") -> ConsentEvent:
    return _record(
        subscriber=subscriber,
        action=ConsentAction.RE_CONSENTED,
        purpose=ConsentPurpose.MARKETING,
        source=source,
        wording=wording,
        ip=ip,
        detail=detail,
    )


def third_party_objected_event(*, subscriber: Subscriber, source, wording: str, ip=None) -> ConsentEvent:
    return _record(
        subscriber=subscriber,
        action=ConsentAction.OBJECTED,
        purpose=ConsentPurpose.THIRD_PARTY,
        source=source,
        wording=wording,
        ip=ip,
    )


def third_party_objection_withdrawn_event(*, subscriber: Subscriber, source, wording: str, ip=None) -> ConsentEvent:
    return _record(
        subscriber=subscriber,
        action=ConsentAction.OBJECTION_WITHDRAWN,
        purpose=ConsentPurpose.THIRD_PARTY,
        source=source,
        wording=wording,
        ip=ip,
    )
