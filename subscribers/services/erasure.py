"""Erasure: a person's account, profile and subscriptions deleted, their records anonymised, a tombstone kept.

What stays is what keeps the promise and the totals true: a keyed HMAC of each address they used (suppressed
for everything, so the address is never mailed again and cannot be imported or added back without a fresh,
confirmed, explicit opt-in), the consent ledger and the delivery ledger without anything that names them,
and an ``ErasureRecord`` saying that an erasure happened, never whom it erased.
"""

import logging

from django.contrib.auth import get_user_model
from django.db import transaction

from mailer.addresses import address_for_transport

from .. import permissions
from ..addresses import email_normalise
from ..audit import SUBSCRIBER_LOG
from ..models import (
    ConsentEvent,
    EmailChangeRequest,
    ErasureRecord,
    ErasureSource,
    RightsRequest,
    RightsRequestStatus,
    Subscriber,
    SuppressionReason,
    SuppressionScope,
)
from ..outbound import outbound_event_publish
from ..personal_data import ErasureTarget, erasers
from .access_export import access_export_files_delete
from .suppression import suppression_add

logger = logging.getLogger(__name__)
User = get_user_model()


def subscriber_erase(
    *,
    subscriber: Subscriber,
    source: ErasureSource,
    performed_by=None,
    rights_request: RightsRequest | None = None,
) -> ErasureRecord:
    """Erase a subscriber and, when they have one, their account."""
    return _erase(
        user=subscriber.user,
        subscriber=subscriber,
        source=source,
        performed_by=performed_by,
        rights_request=rights_request,
    )


def account_erase(
    *, user, source: ErasureSource, performed_by=None, rights_request: RightsRequest | None = None
) -> ErasureRecord:
    """Erase an account and, when it has one, its subscriber."""
    subscriber = Subscriber.objects.filter(user=user).first()
    return _erase(
        user=user, subscriber=subscriber, source=source, performed_by=performed_by, rights_request=rights_request
    )


def _transport_forms(email: str) -> set[str]:
    """The address as SES reports it (an internationalised domain in ASCII), when that differs."""
    try:
        return {email_normalise(address_for_transport(email))}
    except ValueError:
        return set()


def _erase(*, user, subscriber, source, performed_by, rights_request) -> ErasureRecord:
    if source == ErasureSource.STAFF:
        permissions.actor_require(performed_by, permissions.RIGHTS_REQUEST_CHANGE, action="erase a person")
    with transaction.atomic():
        if subscriber is not None:
            subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        emails, proven = _addresses(user=user, subscriber=subscriber)
        target = ErasureTarget(
            subscriber_id=subscriber.pk if subscriber else None,
            user_id=user.pk if user else None,
            subscription_ids=tuple(subscriber.subscriptions.values_list("pk", flat=True)) if subscriber else (),
            emails=tuple(sorted(emails)),
        )
        if subscriber is not None:
            # Before the erasers run, so that the webhooks' eraser takes the person's details out of this event too.
            outbound_event_publish(type="subscriber.erased", subscriber=subscriber, data={})
        counts: dict[str, int] = {}
        for eraser in erasers().values():
            counts.update(eraser(target))
        # Staff have checked who is asking. From an account, only an address its holder has proven is kept off
        # the lists: otherwise anyone could register someone else's address and erase it to silence them.
        tombstoned = emails if source == ErasureSource.STAFF else proven
        for email in sorted(tombstoned):
            suppression_add(email=email, scope=SuppressionScope.ALL, reason=SuppressionReason.ERASED)
        counts["addresses_tombstoned"] = len(tombstoned)
        if subscriber is not None:
            counts["consent_events"] = ConsentEvent.objects.filter(subscriber=subscriber).anonymise()
            counts["subscriptions"] = len(target.subscription_ids)
            RightsRequest.objects.filter(subscriber=subscriber).update(note="")
            counts["access_export_files"] = access_export_files_delete(exports=subscriber.access_exports.all())
            # Deleted with the subscriber (the foreign key cascades); counted first for the erasure's record.
            counts["attribute_values"] = subscriber.attribute_values.count()
            subscriber.delete()
        if user is not None:
            counts["accounts"] = 1
            user.delete()  # with it: profile, email-change requests, records of corrected fields
        record = ErasureRecord.objects.create(
            source=source, performed_by=performed_by, request=rights_request, counts=counts
        )
        # Who erased, when and how much; never whom (the record's name is its time).
        SUBSCRIBER_LOG.write(
            instance=record,
            action="subscribers.erase",
            user=performed_by if source == ErasureSource.STAFF else None,
            data={"request": rights_request.pk if rights_request else None, "counts": counts},
        )
        if rights_request is not None:
            rights_request.refresh_from_db()  # its subscriber is gone
            if rights_request.status == RightsRequestStatus.OPEN:
                from .rights import rights_request_close

                rights_request_close(
                    request=rights_request, status=RightsRequestStatus.DONE, outcome="Erased", closed_by=performed_by
                )
    logger.info("Erasure %s done (%s): %s", record.pk, source, counts)
    return record


def _addresses(*, user, subscriber) -> tuple[set[str], set[str]]:
    """Every address the person used, in every form, and those of them they have proven to read."""
    used, proven = set(), set()
    if subscriber is not None:
        used.add(email_normalise(subscriber.email))
        linked = user is not None and subscriber.user_id == user.pk
        if subscriber.email_confirmed_at or linked:
            proven.add(email_normalise(subscriber.email))
    if user is not None:
        used.add(email_normalise(user.email))
        used.update(
            email_normalise(e) for e in EmailChangeRequest.objects.filter(user=user).values_list("new_email", flat=True)
        )
    used.discard("")
    used |= {form for email in used for form in _transport_forms(email)}
    proven |= {form for email in proven for form in _transport_forms(email)}
    return used, proven
