"""Accounts: registration, correcting details, changing the login address (confirmed before use)."""

from dataclasses import asdict, dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from ..addresses import address_hmac, email_normalise
from ..fieldrules import PERSON_RULES, values_require
from ..links import absolute
from ..mail import transactional_email_send
from ..models import (
    ConsentSource,
    CustomerProfile,
    DetailsChange,
    EmailChangeRequest,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    User,
)
from ..outbound import outbound_event_publish
from ..selectors import (
    address_proof_opt_ins,
    marketing_suppressions_needing_explicit_request,
    third_party_objection_exists,
    topic_default,
)
from ..tokens import EMAIL_CHANGE_SALT, expiring_token_make, expiring_token_read, nonce_hash, nonce_new
from ..wording import MARKETING_OPT_IN
from .errors import EmailChangeLinkUsed, EmailInUseError
from .subscriptions import (
    subscriber_get_or_create,
    subscription_confirm_with_address,
    subscription_request,
    third_party_objection_set,
)

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


def account_register(*, details: RegistrationDetails, ip: str | None = None) -> User | None:
    """Create the account and its profile, and send one email: a link to prove the address, which also
    confirms the marketing opt-in if the box was ticked. Returns the new account.

    When the address already has an account, nothing is created: its owner is told someone tried to
    register with it (``registration_attempt_notice_send``) and None is returned. Callers answer both cases
    the same way, so the form tells nobody which addresses have accounts; the password is hashed either way,
    so neither does the time the answer takes.

    Typing an address proves nothing, so the account controls no mailing-list record until its holder
    uses the link sent to the address (``email_change_confirm`` then links the record and confirms the
    opt-in). The opt-in is held, pending, on the address's own record meanwhile.

    Raises FieldRuleError for a name or address line that breaks its field's rule (``fieldrules``).
    """
    person = {name: value for name, value in asdict(details).items() if name in PERSON_RULES}
    details = replace(details, **values_require(person, PERSON_RULES))
    email = email_normalise(details.email)
    if User.objects.filter(email=email).exists():
        make_password(details.password)
        registration_attempt_notice_send(email=email)
        return None
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
            proof = nonce_new()
            if details.marketing_opt_in:
                subscriber = subscriber_get_or_create(email=email, first_name=details.first_name)
                # After a complaint or an erasure, only the subscription confirmation page can take the
                # explicit request needed (docs/subscriptions.md): that opt-in gets its own email.
                needs_own_email = bool(marketing_suppressions_needing_explicit_request(email=email))
                subscription_request(
                    subscriber=subscriber,
                    topics=[topic_default()],
                    source=ConsentSource.REGISTRATION,
                    wording=MARKETING_OPT_IN,
                    ip=ip,
                    confirm_with_address_proof=None if needs_own_email else proof[1],
                )
            _address_proof_send(user=user, email=email, verifying=True, proof=proof)
    except IntegrityError:
        # The same address registered by another request a moment ago: the same answer as any known address.
        registration_attempt_notice_send(email=email)
        return None
    return user


def registration_attempt_notice_send(*, email: str) -> None:
    """Tell the owner of an account that someone tried to register with its address, with links to log in
    and to reset the password (the person may simply have forgotten they have an account)."""
    user = User.objects.filter(email=email_normalise(email)).first()
    if user is None:
        return
    transactional_email_send(
        to=user.email,
        template="registration_attempt",
        kind="registration-attempt",
        context={
            "user": user,
            "login_url": absolute(reverse("accounts:login")),
            "reset_url": absolute(reverse("accounts:password_reset")),
        },
    )


def profile_update(*, user: User, changes: dict[str, str]) -> list[str]:
    """Correct name, telephone or address. Records which fields changed and when, never the values. Raises
    FieldRuleError for a name or address line that breaks its field's rule (``fieldrules``)."""
    changes = values_require(changes, PERSON_RULES)
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
    """Another account logs in with this address, or another account's subscriber uses it."""
    return (
        User.objects.filter(email=email).exclude(pk=user.pk).exists()
        or Subscriber.objects.filter(email=email, user__isnull=False).exclude(user=user).exists()
    )


def email_change_request(*, user: User, new_email: str) -> EmailChangeRequest:
    """Send a confirmation link to the new address; the account keeps the old one until it is clicked."""
    new_email = email_normalise(new_email)
    if _address_taken(new_email, user):
        raise EmailInUseError("That email address is already in use. Choose another or contact us.")
    return _address_proof_send(user=user, email=new_email, verifying=False)


def account_email_verify_request(*, user: User) -> EmailChangeRequest:
    """Send the account's own address a link that proves the account holder reads it."""
    return _address_proof_send(user=user, email=user.email, verifying=True)


def _address_proof_send(
    *, user: User, email: str, verifying: bool, proof: tuple[str, str] | None = None
) -> EmailChangeRequest:
    """One link per account at a time: a new request retires the older unused ones.

    ``proof`` is the link's (nonce, nonce hash) when the caller made it already. A link proving the
    account's own address carries the registration opt-in still waiting for it: asking for a new link moves
    the opt-in to the new one, and the email says that the click confirms it too.
    """
    nonce, hashed = proof or nonce_new()
    with transaction.atomic():
        unused = EmailChangeRequest.objects.filter(user=user, used_at__isnull=True)
        retired = list(unused.values_list("nonce_hash", flat=True))
        unused.update(used_at=timezone.now())
        change = EmailChangeRequest.objects.create(user=user, new_email=email, nonce_hash=hashed)
        opt_in_topics = []
        if verifying:
            riding = Subscription.objects.filter(
                subscriber__email=email, status=SubscriptionStatus.PENDING, confirm_nonce_hash__in=retired
            )
            riding.update(confirm_nonce_hash=hashed)
            opt_in_topics = [s.topic for s in address_proof_opt_ins(email=email, address_proof=hashed)]
        token = expiring_token_make(nonce=nonce, salt=EMAIL_CHANGE_SALT)
        transactional_email_send(
            to=email,
            template="confirm_email_change",
            kind="confirm-email-change",
            context={
                "user": user,
                "verifying": verifying,
                "opt_in_topics": opt_in_topics,
                "confirm_url": absolute(reverse("account:email_confirm", args=[token])),
                "expires_days": settings.EMAIL_CHANGE_TOKEN_MAX_AGE_DAYS,
            },
        )
    return change


def _objection_carry_over(*, old_email: str, subscriber: Subscriber) -> None:
    """An objection to third-party sharing belongs to the person, so it follows them to a new address."""
    if third_party_objection_exists(email=old_email):
        third_party_objection_set(subscriber=subscriber, objects=True, source=ConsentSource.ACCOUNT_PAGE)


def email_change_pending_for_token(*, token: str) -> EmailChangeRequest:
    """The unused change a link names. Raises TokenExpired / TokenInvalid / EmailChangeLinkUsed."""
    nonce = expiring_token_read(
        token=token, salt=EMAIL_CHANGE_SALT, max_age=timedelta(days=settings.EMAIL_CHANGE_TOKEN_MAX_AGE_DAYS)
    )
    change = EmailChangeRequest.objects.filter(nonce_hash=nonce_hash(nonce), used_at__isnull=True).first()
    if change is None:
        raise EmailChangeLinkUsed("This link has already been used.")
    return change


def email_change_confirm(*, token: str, ip: str | None = None) -> User:
    """Make the proven address the account's login and mailing address. The link dies with its first use.

    If the address was already on the mailing list without an account, the account adopts that record
    (its subscriptions and consent history); the record of the old address stays, unlinked, with its own.
    The opt-in ticked at registration and carried by this link is confirmed by the same click (``ip`` is
    the clicking client's, for the consent ledger).
    """
    with transaction.atomic():
        change = email_change_pending_for_token(token=token)
        change = EmailChangeRequest.objects.select_for_update().get(pk=change.pk)
        if change.used_at is not None:
            raise EmailChangeLinkUsed("This link has already been used.")
        user = change.user
        if _address_taken(change.new_email, user):
            raise EmailInUseError("That email address is already in use. Choose another or contact us.")
        now = timezone.now()
        old_email = user.email
        change.used_at = now
        change.save(update_fields=["used_at"])
        current = Subscriber.objects.filter(user=user).first()
        existing = Subscriber.objects.filter(email=change.new_email).first()
        if existing is None and current is not None:
            current.email = change.new_email
            current.address_hmac = address_hmac(change.new_email)
            current.email_confirmed_at = now
            current.save(update_fields=["email", "address_hmac", "email_confirmed_at"])
        else:
            if current is not None and current != existing:
                current.user = None
                current.save(update_fields=["user"])
            adopted = existing or Subscriber(
                email=change.new_email, address_hmac=address_hmac(change.new_email), first_name=user.first_name
            )
            adopted.user = user
            adopted.email_confirmed_at = now
            adopted.save()
            if existing is None:
                outbound_event_publish(type="subscriber.created", subscriber=adopted, data={})
        user.email = change.new_email
        user.save(update_fields=["email"])
        subscription_confirm_with_address(
            subscriber=Subscriber.objects.get(user=user), address_proof=change.nonce_hash, ip=ip
        )
        if old_email != change.new_email:
            _objection_carry_over(old_email=old_email, subscriber=Subscriber.objects.get(user=user))
            transactional_email_send(
                to=old_email,
                template="email_changed_notice",
                kind="email-changed-notice",
                context={"user": user, "new_email": change.new_email},
            )
    return user
