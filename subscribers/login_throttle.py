"""Limits on password guessing, shared by every login form: the shop's and the Wagtail admin's.

Failed logins are counted in the cache (Redis, so every web process shares them), per account and per client
IP. ``LOGIN_FAILURES_PER_ACCOUNT`` failures for one email address within ``LOGIN_FAILURE_WINDOW_MINUTES`` pause
logging in with that address for ``LOGIN_COOL_DOWN_MINUTES``; ``LOGIN_FAILURES_PER_IP`` (higher: offices and
mobile networks share addresses) do the same for every login from that client. A cool-down always ends by
itself, attempts during it are refused without being counted (so they never extend it), and resetting the
password lifts it, so the owner is never locked out for good.

Counting is keyed by the address typed, whether or not an account has it, and the refusal says the same for
both: the limit tells nobody which addresses have accounts.

Written here rather than with django-ratelimit, which counts requests in windows aligned to the clock: this
counts failures only, starts the cool-down at the failure that reaches the limit, and says when it ends.
"""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac

from .addresses import email_normalise

ACCOUNT = "account"
CLIENT = "client"


@dataclass(frozen=True)
class LoginRefusal:
    """Why logging in is refused just now, and for how many more seconds."""

    scope: str
    retry_after: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        if self.scope == ACCOUNT:
            return (
                "Too many unsuccessful attempts to log in with this email address. To protect the account, "
                f"logging in with it is paused for {wait}. If you have forgotten your password, reset it."
            )
        return f"Too many unsuccessful login attempts from your network. Please wait {wait} and try again."


def _key(kind: str, scope: str, identity: str) -> str:
    # Keyed hash: the cache never holds the addresses people typed.
    return f"login-{kind}:{scope}:{salted_hmac('subscribers.login_throttle', identity).hexdigest()[:40]}"


def _scopes(*, email: str, ip: str | None) -> list[tuple[str, str, int]]:
    """(scope, identity, failure limit) for each counter an attempt moves."""
    scopes = []
    email = email_normalise(email or "")
    if email:
        scopes.append((ACCOUNT, email, settings.LOGIN_FAILURES_PER_ACCOUNT))
    if ip:
        scopes.append((CLIENT, ip, settings.LOGIN_FAILURES_PER_IP))
    return scopes


def login_refusal_for(*, email: str, ip: str | None) -> LoginRefusal | None:
    """The cool-down that refuses a login for this address or this client now, if any (the account's first)."""
    now = time.time()
    for scope, identity, _limit in _scopes(email=email, ip=ip):
        until = cache.get(_key("pause", scope, identity))
        if until and until > now:
            return LoginRefusal(scope=scope, retry_after=math.ceil(until - now))
    return None


def login_failure_record(*, email: str, ip: str | None) -> LoginRefusal | None:
    """Count one failed login; start a cool-down for each counter that reached its limit.

    Returns the refusal now in force, so the attempt that reaches the limit already says so.
    """
    window = settings.LOGIN_FAILURE_WINDOW_MINUTES * 60
    pause = settings.LOGIN_COOL_DOWN_MINUTES * 60
    for scope, identity, limit in _scopes(email=email, ip=ip):
        key = _key("failures", scope, identity)
        cache.add(key, 0, timeout=window)  # the window starts at the first failure
        try:
            failures = cache.incr(key)
        except ValueError:  # the window ended between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures >= limit:
            cache.add(_key("pause", scope, identity), time.time() + pause, timeout=pause)
            cache.delete(key)
    return login_refusal_for(email=email, ip=ip)


def login_failures_clear(*, email: str, cool_down: bool = False) -> None:
    """Forget an address's failed logins (after a successful one); with ``cool_down``, end its cool-down too
    (after a password reset, which proves the person reads the mailbox)."""
    email = email_normalise(email or "")
    if not email:
        return
    keys = [_key("failures", ACCOUNT, email)]
    if cool_down:
        keys.append(_key("pause", ACCOUNT, email))
    cache.delete_many(keys)
