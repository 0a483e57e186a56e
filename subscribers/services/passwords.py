"""Forgotten passwords: a single-use, expiring reset link by email, and setting the new password.

The link is Django's (``default_token_generator``): it names the account by its id and carries an HMAC of the
password hash, the last login and the time it was made, so it dies once the password changes or someone logs
in, and after ``PASSWORD_RESET_TIMEOUT``. Nothing about it is stored.
"""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from ..addresses import email_normalise
from ..links import absolute
from ..login_throttle import login_failures_clear
from ..mail import transactional_email_send
from ..models import User


def password_reset_hours() -> int:
    """How long a reset link works, in whole hours (as the email says)."""
    return max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)


def password_reset_request(*, email: str) -> bool:
    """Email a reset link to the active account that logs in with ``email``. Returns whether one was sent.

    Nothing is sent for an unknown address, nor for an account without a usable password. Callers answer the
    same either way (the form's work runs in a task), so the form tells nobody which addresses have accounts.
    """
    user = User.objects.filter(email=email_normalise(email), is_active=True).first()
    if user is None or not user.has_usable_password():
        return False
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    transactional_email_send(
        to=user.email,
        template="password_reset",
        kind="password-reset",
        context={
            "user": user,
            "reset_url": absolute(reverse("accounts:password_reset_confirm", args=[uid, token])),
            "expires_hours": password_reset_hours(),
        },
    )
    return True


def account_password_set(*, user: User, password: str) -> User:
    """Set a new password chosen from a reset link, and tell the account's address it changed.

    Every other session of the account ends: Django keeps a hash of the password hash in each session and
    logs out any whose hash no longer matches. The reset link dies for the same reason. Resetting also ends a
    login cool-down on the address (``login_throttle``): the person has just proven they read the mailbox.
    """
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        transactional_email_send(
            to=user.email,
            template="password_changed_notice",
            kind="password-changed-notice",
            context={"user": user, "reset_url": absolute(reverse("accounts:password_reset"))},
        )
    login_failures_clear(email=user.email, cool_down=True)
    return user
