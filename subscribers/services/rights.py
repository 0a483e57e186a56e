"""Requests from people to exercise their data-protection rights: recording them with their statutory deadline,
and closing them.

The deadline is one calendar month, counted as the UK regulator does
(https://ico.org.uk/for-organisations/uk-gdpr-guidance-and-resources/individual-rights/right-of-access/what-should-we-consider-when-responding-to-a-request/):
from the day of receipt to the corresponding calendar date in the next month; the last day of that month when it
has no such date; the next working day when that date is a weekend or a bank holiday.
"""

import calendar
from collections.abc import Iterable
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from .. import permissions
from ..fieldrules import RIGHTS_NOTE, RIGHTS_OUTCOME
from ..models import RightsRequest, RightsRequestChannel, RightsRequestKind, RightsRequestStatus, Subscriber, User
from .errors import RightsRequestError

SATURDAY = 5  # date.weekday(): Monday is 0


def rights_request_holidays() -> frozenset[date]:
    """The bank holidays configured in ``RIGHTS_REQUEST_HOLIDAYS`` (ISO dates); a malformed one stops the request."""
    holidays = set()
    for text in settings.RIGHTS_REQUEST_HOLIDAYS:
        try:
            holidays.add(date.fromisoformat(text.strip()))
        except ValueError as err:
            raise ImproperlyConfigured(
                f"RIGHTS_REQUEST_HOLIDAYS: {text!r} is not a date written as YYYY-MM-DD."
            ) from err
    return frozenset(holidays)


def rights_request_deadline(received_on: date, *, holidays: Iterable[date] = ()) -> date:
    """The day a request received on ``received_on`` must be answered by: the same day of the next month, or that
    month's last day when it is shorter; moved to the next working day past weekends and ``holidays``."""
    year, month = (received_on.year + 1, 1) if received_on.month == 12 else (received_on.year, received_on.month + 1)
    last_day = calendar.monthrange(year, month)[1]
    deadline = date(year, month, min(received_on.day, last_day))
    closed_days = frozenset(holidays)
    while deadline.weekday() >= SATURDAY or deadline in closed_days:
        deadline += timedelta(days=1)
    return deadline


def rights_request_open(
    *,
    kind: RightsRequestKind | str,
    channel: RightsRequestChannel | str,
    received_on: date,
    subscriber: Subscriber | None = None,
    note: str = "",
    created_by: User | None = None,
) -> RightsRequest:
    """Record a request received on ``received_on`` (today or earlier), due by its statutory deadline, by
    ``created_by`` (refused with ActionForbidden unless they may record requests)."""
    permissions.actor_require(created_by, permissions.RIGHTS_REQUEST_ADD, action="record a privacy request")
    if kind not in RightsRequestKind.values:
        raise RightsRequestError(f"Unknown kind of request {kind!r}.", field="kind")
    if channel not in RightsRequestChannel.values:
        raise RightsRequestError(f"Unknown channel {channel!r}.", field="channel")
    note = RIGHTS_NOTE.require(note, field="note")
    today = timezone.localdate()
    if received_on > today:
        raise RightsRequestError(
            f"The date received, {received_on:%d %B %Y}, is in the future: a request can only be recorded "
            f"once it has reached us (today is {today:%d %B %Y}).",
            field="received_on",
        )
    return RightsRequest.objects.create(
        kind=kind,
        channel=channel,
        received_on=received_on,
        deadline=rights_request_deadline(received_on, holidays=rights_request_holidays()),
        subscriber=subscriber,
        note=note,
        created_by=created_by,
    )


def rights_request_close(
    *,
    request: RightsRequest,
    status: RightsRequestStatus | str,
    outcome: str = "",
    closed_by: User | None = None,
) -> RightsRequest:
    """Close an open request as done or refused; a refusal must say why in ``outcome``.

    The row is locked while it is checked, so two staff closing the same request at once close it once. Refused
    with ActionForbidden unless ``closed_by`` may handle requests."""
    permissions.actor_require(closed_by, permissions.RIGHTS_REQUEST_CHANGE, action="close a privacy request")
    if status not in (RightsRequestStatus.DONE, RightsRequestStatus.REFUSED):
        raise RightsRequestError(f"A request is closed as done or refused, not {status!r}.", field="status")
    outcome = RIGHTS_OUTCOME.require(outcome, field="outcome")
    if status == RightsRequestStatus.REFUSED and not outcome:
        raise RightsRequestError(
            "Give the reason for refusing the request: the person must be told why.", field="outcome"
        )
    with transaction.atomic():
        locked = RightsRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != RightsRequestStatus.OPEN:
            when = f" on {timezone.localtime(locked.closed_at):%d %B %Y}" if locked.closed_at else ""
            raise RightsRequestError(f"This request was already closed ({locked.get_status_display().lower()}){when}.")
        locked.status = status
        locked.outcome = outcome
        locked.closed_at = timezone.now()
        locked.closed_by = closed_by
        locked.save(update_fields=["status", "outcome", "closed_at", "closed_by"])
    return locked
