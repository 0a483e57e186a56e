"""Keeping our suppression list and the SES account-level suppression list in step, both ways.

Pulled from SES: an address SES suppresses for a bounce is suppressed here for all email, one suppressed for a
complaint has its subscriptions withdrawn and marketing suppressed, each with a consent event, exactly as if
the bounce or complaint had come through our own feedback.

Pushed to SES: our bounce and complaint suppressions. We keep only a keyed HMAC of a suppressed address, so an
address can be pushed only while a subscriber record still holds it; suppressions of erased or never-known
addresses are counted as not pushable, and stay in force here.
"""

from dataclasses import dataclass, field

from mailer.ses import ses_suppressed_destination_put, ses_suppressed_destinations

from ..addresses import address_hmac
from ..models import Subscriber, Suppression, SuppressionReason, SuppressionScope
from .feedback import address_bounced, address_complained

SES_REASONS = {SuppressionReason.BOUNCE: "BOUNCE", SuppressionReason.COMPLAINT: "COMPLAINT"}


@dataclass
class SuppressionSyncResult:
    pulled: int = 0  # addresses SES suppressed that we now suppress too
    pushed: int = 0  # addresses we suppressed that SES now suppresses too
    not_pushable: int = 0  # our bounce/complaint suppressions whose address we no longer hold
    already: int = 0  # suppressed on both sides before the sync
    errors: list[str] = field(default_factory=list)


def suppression_sync_with_ses(*, pull: bool = True, push: bool = True, dry_run: bool = False) -> SuppressionSyncResult:
    """Make each side suppress what the other does. Idempotent; ``dry_run`` counts and changes nothing."""
    result = SuppressionSyncResult()
    theirs = ses_suppressed_destinations()
    their_hmacs = {address_hmac(item["email"]) for item in theirs}
    ours = dict(
        Suppression.objects.filter(scope__in=(SuppressionScope.ALL, SuppressionScope.MARKETING)).values_list(
            "address_hmac", "reason"
        )
    )
    if pull:
        for item in theirs:
            hmac = address_hmac(item["email"])
            wanted = SuppressionReason.BOUNCE if item["reason"] == "BOUNCE" else SuppressionReason.COMPLAINT
            if ours.get(hmac) in (wanted, SuppressionReason.COMPLAINT, SuppressionReason.ERASED):
                result.already += 1
                continue
            result.pulled += 1
            if not dry_run:
                detail = "SES account suppression list"
                if wanted == SuppressionReason.BOUNCE:
                    address_bounced(email=item["email"], detail=detail)
                else:
                    address_complained(email=item["email"], detail=detail)
    if push:
        wanted = {hmac: reason for hmac, reason in ours.items() if reason in SES_REASONS and hmac not in their_hmacs}
        emails = _emails_by_hmac(wanted)
        for hmac, reason in wanted.items():
            email = emails.get(hmac)
            if email is None:
                result.not_pushable += 1
                continue
            result.pushed += 1
            if not dry_run:
                ses_suppressed_destination_put(email=email, reason=SES_REASONS[reason])
    return result


def _emails_by_hmac(hmacs) -> dict[str, str]:
    """The addresses we still hold for these HMACs. One pass over the subscribers, which have no index on the HMAC
    (nothing else looks a subscriber up by it, and every new subscriber would pay for one)."""
    if not hmacs:
        return {}
    rows = Subscriber.objects.values_list("address_hmac", "email").iterator(chunk_size=5000)
    return {hmac: email for hmac, email in rows if hmac in hmacs}
