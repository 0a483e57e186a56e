"""Adding and lifting suppressions. Addresses are stored only as keyed HMACs."""

from ..addresses import address_hmac
from ..models import Suppression, SuppressionReason, SuppressionScope


def suppression_add(*, email: str, scope: SuppressionScope, reason: SuppressionReason) -> Suppression:
    """Suppress an address for one scope. Idempotent: the first reason recorded for a scope is kept."""
    suppression, _ = Suppression.objects.get_or_create(
        address_hmac=address_hmac(email), scope=scope, defaults={"reason": reason}
    )
    return suppression


def suppression_lift(*, email: str, scopes: tuple[str, ...], reasons: tuple[str, ...]) -> list[Suppression]:
    """Remove the address's suppressions in these scopes that were recorded for these reasons."""
    found = list(Suppression.objects.filter(address_hmac=address_hmac(email), scope__in=scopes, reason__in=reasons))
    Suppression.objects.filter(pk__in=[s.pk for s in found]).delete()
    return found
