"""What mailbox providers tell us through SES: an address that bounces hard, or a person who complains.

Both suppress the address by its HMAC (so it works for addresses we hold no subscriber for, such as a test
send to a colleague), and both record a consent event for a subscriber we do hold.
"""

from django.db import transaction

from .. import events
from ..addresses import address_spellings
from ..models import ConsentSource, Subscriber, SuppressionReason, SuppressionScope
from .subscriptions import subscription_withdraw
from .suppression import suppression_add


def _subscriber(email: str) -> Subscriber | None:
    return Subscriber.objects.filter(email__in=address_spellings(email)).first()


def _suppress(*, email: str, scope: SuppressionScope, reason: SuppressionReason) -> None:
    """In every spelling: SES names an internationalised address in ASCII, which we may hold in Unicode."""
    for spelling in sorted(address_spellings(email)):
        suppression_add(email=spelling, scope=scope, reason=reason)


def address_bounced(*, email: str, detail: str) -> None:
    """The address cannot receive mail: suppress it for every kind of email (reason: bounce)."""
    with transaction.atomic():
        _suppress(email=email, scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)
        subscriber = _subscriber(email)
        if subscriber:
            events.suppressed_by_feedback_event(subscriber=subscriber, detail=detail)


def address_complained(*, email: str, detail: str) -> None:
    """The person marked our email as spam: withdraw every marketing subscription and suppress marketing.

    Each topic withdrawn gets its own consent event (source: SES feedback), and the suppression one more.
    """
    with transaction.atomic():
        _suppress(email=email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.COMPLAINT)
        subscriber = _subscriber(email)
        if subscriber:
            for subscription in subscriber.subscriptions.all():
                subscription_withdraw(subscription=subscription, source=ConsentSource.SES_FEEDBACK, reason=detail)
            events.suppressed_by_feedback_event(subscriber=subscriber, detail=detail)
