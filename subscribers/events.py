"""One function per consent event. Each writes one append-only ConsentEvent row.

Callers are services, inside the same transaction as the change the event records.
"""

from .addresses import ip_truncate
from .models import ConsentAction, ConsentEvent, ConsentPurpose, ConsentSource, Subscriber, Subscription
from .selectors import policy_version_current, policy_version_current_id
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
        topic_id=subscription.topic_id if subscription else None,
        purpose=purpose,
        action=action,
        source=source,
        policy_version_id=policy_version_current_id(),
        wording_hash=wording_hash(wording) if wording else "",
        ip_truncated=ip_truncate(ip),
        detail=detail[:255],
    )


def _subscription_event(
    action: str, *, subscription: Subscription, source, wording: str = "", ip=None, reason: str = ""
) -> ConsentEvent:
    return _record(
        subscriber=subscription.subscriber,
        subscription=subscription,
        action=action,
        purpose=ConsentPurpose.MARKETING,
        source=source,
        wording=wording,
        ip=ip,
        detail=reason,
    )


def consent_requested_event(
    *, subscription: Subscription, source, wording: str, ip=None, detail: str = ""
) -> ConsentEvent:
    """Double opt-in started: a confirmation email is on its way (``detail``: who asked, when not the person)."""
    return _subscription_event(
        ConsentAction.REQUESTED, subscription=subscription, source=source, wording=wording, ip=ip, reason=detail
    )


def consent_imported_event(
    *, subscription: Subscription, source, policy_version, wording_hash_value: str, detail: str
) -> ConsentEvent:
    """Consent given elsewhere, recorded with its evidence (the CSV import's rules): the policy version the person
    could have read, the hash of the words they agreed to, and where and when in ``detail``. No IP: nobody was
    present."""
    return ConsentEvent.objects.create(
        subscriber=subscription.subscriber,
        topic=subscription.topic,
        purpose=ConsentPurpose.MARKETING,
        action=ConsentAction.IMPORTED,
        source=source,
        policy_version=policy_version or policy_version_current(),
        wording_hash=wording_hash_value,
        detail=detail[:255],
    )


def consent_confirmed_event(
    *, subscription: Subscription, source, wording: str, ip=None, detail: str = ""
) -> ConsentEvent:
    """The person clicked the confirmation link and pressed the button (``detail``: which link, when not the
    subscription's own)."""
    return _subscription_event(
        ConsentAction.CONFIRMED, subscription=subscription, source=source, wording=wording, ip=ip, reason=detail
    )


def consent_given_event(*, subscription: Subscription, source, wording: str, ip=None) -> ConsentEvent:
    """Consent given on the spot by the owner of an already confirmed address."""
    return _subscription_event(ConsentAction.GIVEN, subscription=subscription, source=source, wording=wording, ip=ip)


def consent_withdrawn_event(
    *, subscription: Subscription, source, wording: str = "", ip=None, reason: str = ""
) -> ConsentEvent:
    return _subscription_event(
        ConsentAction.WITHDRAWN, subscription=subscription, source=source, wording=wording, ip=ip, reason=reason
    )


def marketing_withdrawn_event(*, subscriber: Subscriber, source, wording: str = "", ip=None, reason="") -> ConsentEvent:
    """Every marketing topic withdrawn at once, and the address suppressed for marketing."""
    return _record(
        subscriber=subscriber,
        action=ConsentAction.WITHDRAWN,
        purpose=ConsentPurpose.MARKETING,
        source=source,
        wording=wording,
        ip=ip,
        detail=f"all marketing email{': ' + reason if reason else ''}",
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


def _third_party_event(
    action: str, *, subscriber: Subscriber, source, wording: str, ip=None, detail: str = ""
) -> ConsentEvent:
    return _record(
        subscriber=subscriber,
        action=action,
        purpose=ConsentPurpose.THIRD_PARTY,
        source=source,
        wording=wording,
        ip=ip,
        detail=detail,
    )


def third_party_objected_event(*, subscriber: Subscriber, source, wording: str, ip=None, detail="") -> ConsentEvent:
    return _third_party_event(
        ConsentAction.OBJECTED, subscriber=subscriber, source=source, wording=wording, ip=ip, detail=detail
    )


def third_party_objection_withdrawn_event(
    *, subscriber: Subscriber, source, wording: str, ip=None, detail=""
) -> ConsentEvent:
    return _third_party_event(
        ConsentAction.OBJECTION_WITHDRAWN, subscriber=subscriber, source=source, wording=wording, ip=ip, detail=detail
    )


def suppressed_by_feedback_event(*, subscriber: Subscriber, detail: str) -> ConsentEvent:
    """SES reported a hard bounce or a complaint, and the address was suppressed for it."""
    return _record(
        subscriber=subscriber,
        action=ConsentAction.SUPPRESSED,
        purpose=ConsentPurpose.MARKETING,
        source=ConsentSource.SES_FEEDBACK,
        detail=detail,
    )
