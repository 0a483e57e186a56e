"""Adding and lifting suppressions. Addresses are stored only as keyed HMACs."""

from django.db import transaction

from ..addresses import address_hmac, email_normalise
from ..models import Subscriber, Suppression, SuppressionReason, SuppressionScope
from ..outbound import outbound_event_publish

# How hard each reason is to lift, weakest first. A scope keeps the strongest reason it was given, so a
# complaint recorded after an unsubscribe is not lifted by the rule for unsubscribes.
REASON_STRENGTH = [
    SuppressionReason.UNSUBSCRIBED,
    SuppressionReason.OBJECTED,
    SuppressionReason.BOUNCE,
    SuppressionReason.MANUAL,
    SuppressionReason.COMPLAINT,
    SuppressionReason.ERASED,
]


def suppression_add(*, email: str, scope: SuppressionScope, reason: SuppressionReason) -> Suppression:
    """Suppress an address for one scope. Idempotent; a stronger reason replaces a weaker one."""
    with transaction.atomic():
        suppression, created = Suppression.objects.select_for_update().get_or_create(
            address_hmac=address_hmac(email), scope=scope, defaults={"reason": reason}
        )
        if not created and REASON_STRENGTH.index(reason) > REASON_STRENGTH.index(suppression.reason):
            suppression.reason = reason
            suppression.save(update_fields=["reason"])
        # An erasure's tombstone is announced as the erasure (subscriber.erased), never as a suppression of a person
        # who by then is gone.
        if created and reason != SuppressionReason.ERASED:
            outbound_event_publish(
                type="suppression.added",
                subscriber=Subscriber.objects.filter(email=email_normalise(email)).first(),
                data={"scope": str(scope), "reason": str(reason)},
            )
    return suppression


def suppression_lift(*, email: str, scopes: tuple[str, ...], reasons: tuple[str, ...]) -> list[Suppression]:
    """Remove the address's suppressions in these scopes that were recorded for these reasons."""
    found = list(Suppression.objects.filter(address_hmac=address_hmac(email), scope__in=scopes, reason__in=reasons))
    Suppression.objects.filter(pk__in=[s.pk for s in found]).delete()
    return found
