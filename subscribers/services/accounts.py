"""Accounts: registration, correcting details, changing the login address (confirmed before use)."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from ..addresses import email_normalise
from ..links import absolute
from ..mail import transactional_email_send
from ..models import ConsentSource, CustomerProfile, DetailsChange, EmailChangeRequest, Subscriber, User
from ..selectors import topic_default
from ..tokens import EMAIL_CHANGE_SALT, expiring_token_make, expiring_token_read, nonce_hash, nonce_new
from ..wording import MARKETING_OPT_IN
from .errors import EmailChangeLinkUsed, EmailInUseError
from .subscriptions import subscriber_get_or_create, subscription_request

PROFILE_FIELDS = ("telephone", "address_line1", "address_line2", "town", "county", "postcode", "country")
USER_FIELDS = ("first_name", "last_name")


@dataclass(frozen=True)
class RegistrationDetails:
    """What the registration form collected, already validated and normalised."""

    email: str
    password: str
    first_name: str
    last_name: str
    telephone: str
    address_line1: str
    address_line2: str
    town: str
    county: str
    postcode: str
    marketing_opt_in: bool


def account_register(*, details: RegistrationDetails, ip: str | None = None) -> User:
    """Create the account, its profile and its subscriber; start double opt-in if the box was ticked."""
    email = email_normalise(details.email)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email,
                password=details.password,
                first_name=details.first_name,
                last_name=details.last_name,
            )
            CustomerProfile.objects.create(
                user=user, **{f: getattr(details, f) for f in PROFILE_FIELDS if f != "country"}
            )
            subscriber = subscriber_get_or_create(email=email, first_name=details.first_name, user=user)
            if details.marketing_opt_in:
                subscription_request(
                    subscriber=subscriber,
                    topics=[topic_default()],
                    source=ConsentSource.REGISTRATION,
                    wording=MARKETING_OPT_IN,
                    ip=ip,
                )
    except IntegrityError as err:
        raise EmailInUseError("An account with this email address already exists.") from err
    return user


def profile_update(*, user: User, changes: dict[str, str]) -> list[str]:
    """Correct name, telephone or address. Records which fields changed and when, never the values."""
    profile = user.profile
    changed = []
    with transaction.atomic():
        for name, value in changes.items():
            target = user if name in USER_FIELDS else profile
            if name not in USER_FIELDS + PROFILE_FIELDS:
                raise ValueError(f"{name} is not a profile field.")
            if getattr(target, name) != value:
                setattr(target, name, value)
                changed.append(name)
        if changed:
            user.save(update_fields=[f for f in changed if f in USER_FIELDS] or None)
            profile.save()
            if "first_name" in changed:
                Subscriber.objects.filter(user=user).update(first_name=user.first_name)
            DetailsChange.objects.create(user=user, fields=changed)
    return changed


def _address_taken(email: str, user: User) -> bool:
    return (
        User.objects.filter(email=email).exclude(pk=user.pk).exists()
        or Subscriber.objects.filter(email=email).exclude(user=user).exists()
    )


def email_change_request(*, user: User, new_email: str) -> EmailChangeRequest:
    """Send a confirmation link to the new address; the account keeps the old one until it is clicked."""
    new_email = email_normalise(new_email)
    if _address_taken(new_email, user):
        raise EmailInUseError("That email address is already in use. Choose another or contact us.")
    nonce, hashed = nonce_new()
    with transaction.atomic():
        change = EmailChangeRequest.objects.create(user=user, new_email=new_email, nonce_hash=hashed)
        token = expiring_token_make(nonce=nonce, salt=EMAIL_CHANGE_SALT)
        transactional_email_send(
            to=new_email,
            template="confirm_email_change",
            kind="confirm-email-change",
            context={
                "user": user,
                "confirm_url": absolute(reverse("account:email_confirm", args=[token])),
                "expires_days": settings.EMAIL_CHANGE_TOKEN_MAX_AGE_DAYS,
            },
        )
    return change


def email_change_pending_for_token(*, token: str) -> EmailChangeRequest:
    """The unused change a link names. Raises TokenExpired / TokenInvalid / EmailChangeLinkUsed."""
    nonce = expiring_token_read(
        token=token, salt=EMAIL_CHANGE_SALT, max_age=timedelta(days=settings.EMAIL_CHANGE_TOKEN_MAX_AGE_DAYS)
    )
    change = EmailChangeRequest.objects.filter(nonce_hash=nonce_hash(nonce), used_at__isnull=True).first()
    if change is None:
        raise EmailChangeLinkUsed("This link has already been used.")
    return change


def email_change_confirm(*, token: str) -> User:
    """Switch the login and mailing address to the confirmed new one. The link dies with its first use."""
    with transaction.atomic():
        change = email_change_pending_for_token(token=token)
        change = EmailChangeRequest.objects.select_for_update().get(pk=change.pk)
        if change.used_at is not None:
            raise EmailChangeLinkUsed("This link has already been used.")
        user = change.user
        if _address_taken(change.new_email, user):
            raise EmailInUseError("That email address is already in use. Choose another or contact us.")
        now = timezone.now()
        change.used_at = now
        change.save(update_fields=["used_at"])
        user.email = change.new_email
        user.save(update_fields=["email"])
        Subscriber.objects.filter(user=user).update(email=change.new_email, email_confirmed_at=now)
    return user
