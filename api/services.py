"""Every state change of the API's own data: keys (made, revoked, marked used) and idempotency records (kept,
replayed, purged, and rewritten when the person an answer is about is erased).

A key acts through its own service user (``ApiKey.user``): the services of the other apps take a Django user as the
actor, check its permissions and write the audit log with it, so a key is held to the same rules as staff and the
log names the key. The user has no usable password and no admin access, and is deactivated when the key is revoked.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from subscribers.fieldrules import TextRule
from subscribers.models import Subscriber
from subscribers.permissions import actor_require
from subscribers.personal_data import ErasureTarget

from .audit import API_LOG
from .models import ApiKey, IdempotencyRecord
from .scopes import SCOPE_GROUPS, SCOPE_PERMISSIONS, scope_missing_permission, scopes_parse

KEY_PREFIX = "nlk"
# last_used_at is written at most this often per key, so that reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
IDEMPOTENCY_TTL = timedelta(hours=24)
# A claim still without an answer after this is taken for one whose process died (no request of ours runs this long:
# gunicorn's timeout is shorter), so a retry may claim it again and act.
IDEMPOTENCY_CLAIM_EXPIRY = timedelta(seconds=60)
MANAGE_PERMISSION = "api.manage_api_keys"
KEY_NAME = TextRule("Name", 100)
SERVICE_USER_DOMAIN = "api-keys.invalid"  # .invalid (RFC 2606): never an address anyone can receive mail at


class ApiKeyError(ValueError):
    """A key cannot be made or revoked as asked; ``field`` names the input at fault when there is one."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: ``key`` is the whole key string, shown once and never stored."""

    api_key: ApiKey
    key: str


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _service_user_grant(*, user, scopes: list[str]) -> None:
    labels = {label for scope in scopes for label in SCOPE_PERMISSIONS.get(scope, ())}
    permissions = []
    for label in sorted(labels):
        app_label, codename = label.split(".")
        permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    user.user_permissions.set(permissions)
    group_names = {name for scope in scopes for name in SCOPE_GROUPS.get(scope, ())}
    user.groups.set(Group.objects.filter(name__in=group_names))


def api_key_create(*, name: str, scopes, created_by=None) -> NewApiKey:
    """Make a key with ``scopes`` and its service user. The returned ``key`` is the only time the secret exists.

    Raises ApiKeyError for an empty or taken name, an unknown scope (naming it and the valid ones) or a scope whose
    powers ``created_by`` lacks (naming the scope and what is missing: a key does no more than its maker could), and
    ActionForbidden when ``created_by`` may not manage keys (None: the platform, e.g. a management command).
    """
    actor_require(created_by, MANAGE_PERMISSION, action="create API keys")
    try:
        name = KEY_NAME.require(name, field="name")
    except ValueError as err:
        raise ApiKeyError(str(err), field="name") from err
    if not name:
        raise ApiKeyError("Give the key a name.", field="name")
    try:
        scopes = scopes_parse(scopes)
    except ValueError as err:
        raise ApiKeyError(str(err), field="scopes") from err
    for scope in scopes:
        missing = scope_missing_permission(created_by, scope)
        if missing is not None:
            raise ApiKeyError(
                f"You may not give a key the scope {scope}: it needs {missing}, which your roles lack.",
                field="scopes",
            )
    User = get_user_model()
    with transaction.atomic():
        if ApiKey.objects.filter(name=name).exists():
            raise ApiKeyError(f"There is already a key named “{name}”.", field="name")
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        user = User(email=f"api-key-{prefix}@{SERVICE_USER_DOMAIN}", first_name="API key", last_name=name[:150])
        user.set_unusable_password()
        user.is_staff = False
        user.is_active = True  # inactive users hold no permissions (ModelBackend.has_perm)
        user.save()
        _service_user_grant(user=user, scopes=scopes)
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    name=name,
                    prefix=prefix,
                    secret_hash=_secret_hash(secret),
                    scopes=scopes,
                    user=user,
                    created_by=created_by,
                )
        except IntegrityError as err:  # a concurrent key with the same name
            raise ApiKeyError(f"There is already a key named “{name}”.", field="name") from err
        API_LOG.write(
            instance=api_key, action="api.key_create", user=created_by, data={"name": name, "scopes": scopes}
        )
    return NewApiKey(api_key=api_key, key=f"{KEY_PREFIX}_{prefix}_{secret}")


def api_key_revoke(*, api_key: ApiKey, revoked_by=None) -> ApiKey:
    """Revoke a key at once: it authenticates no more, and its user is deactivated (so it holds no permission).
    Idempotent."""
    actor_require(revoked_by, MANAGE_PERMISSION, action="revoke API keys")
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().select_related("user").get(pk=api_key.pk)
        if api_key.revoked_at is not None:
            return api_key
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        api_key.user.is_active = False
        api_key.user.save(update_fields=["is_active"])
        API_LOG.write(instance=api_key, action="api.key_revoke", user=revoked_by, data={"name": api_key.name})
    return api_key


def api_key_for_string(*, key: str) -> ApiKey | None:
    """The active key a key string names, or None (malformed, unknown, wrong secret or revoked).

    The row is found by its prefix; the secret is compared with the stored hash in constant time.
    """
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    api_key = ApiKey.objects.select_related("user").filter(prefix=parts[1]).first()
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, _secret_hash(parts[2])):
        return None
    if api_key.revoked_at is not None or not api_key.user.is_active:
        return None
    return api_key


def api_key_mark_used(*, api_key: ApiKey) -> None:
    """Record that the key was used now, at most once a minute (a conditional UPDATE: no row lock, no read)."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gt=now - LAST_USED_RESOLUTION).update(last_used_at=now)
    api_key.last_used_at = now


# Idempotency ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdempotencyClaim:
    """The outcome of claiming an ``Idempotency-Key``: ``record`` is ours to fill (``fresh``), or another request's
    (its stored answer, or None while it is still running); ``mismatch`` when the key came with another request."""

    record: IdempotencyRecord
    fresh: bool
    mismatch: bool = False


def idempotency_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def idempotency_claim(*, api_key: ApiKey, key: str, fingerprint: str) -> IdempotencyClaim:
    """Insert the record for (api_key, key) before the request acts, or find the one already there.

    The insert commits on its own (outside any transaction of the action), so a concurrent request with the same
    key waits on the unique index only for that insert and then sees the row. A record older than 24 hours is
    forgotten, and the key may be used afresh; so is a claim still without an answer after 60 seconds (its process
    died), so a retry acts then rather than being told 409 for a day. At most once holds only within those 60 s:
    a request that was in fact still running after them may act a second time.
    """
    for _ in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(api_key=api_key, key=key, fingerprint=fingerprint)
            return IdempotencyClaim(record=record, fresh=True)
        except IntegrityError:
            record = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
            if record is None:
                continue  # deleted meanwhile (expired, or its request failed): try again
            now = timezone.now()
            if record.created_at < now - IDEMPOTENCY_TTL:
                IdempotencyRecord.objects.filter(pk=record.pk).delete()
                continue
            if record.status_code is None and record.created_at < now - IDEMPOTENCY_CLAIM_EXPIRY:
                # A stuck claim (its process died before answering): forget it, conditionally, so that of two
                # retries racing here only one deletes and re-claims; the other then finds the new claim.
                IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
                continue
            return IdempotencyClaim(record=record, fresh=False, mismatch=record.fingerprint != fingerprint)
    raise RuntimeError("Could not claim the Idempotency-Key; try again.")


def idempotency_complete(*, record: IdempotencyRecord, status_code: int, body: bytes, content_type: str) -> None:
    """Keep the answer to replay it."""
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status_code=status_code, body=body, content_type=content_type[:100]
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Forget a claim whose request failed on our side (a 5xx): nothing was done, so a retry may act."""
    IdempotencyRecord.objects.filter(pk=record.pk).delete()


def idempotency_records_purge(*, now=None) -> int:
    """Delete the answers older than 24 hours (beat runs this hourly)."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# What a kept answer about a person becomes when they are erased: replaying it says so, and still does not act again.
ERASED_ANSWER = json.dumps(
    {
        "error": {
            "code": "erased",
            "message": "The person this request was about has since been erased; the answer is no longer kept.",
            "fields": {},
        }
    }
).encode()


def idempotency_answers_erase(target: ErasureTarget) -> dict[str, int]:
    """Eraser (``subscribers.personal_data``): every kept answer that names the person (their address, or their
    public id: a subscriber's record, a receipt) is replaced by ``ERASED_ANSWER`` with status 410, so that a replay
    within the 24 hours gives none of their data back, and a retry still does not act twice."""
    # Each as a whole JSON string, quotes included, as the answers hold it (with non-ASCII characters as written or
    # escaped): erasing ann@x.example must not touch an answer about joann@x.example.
    names = list(target.emails)
    if target.subscriber_id is not None:
        public_id = Subscriber.objects.filter(pk=target.subscriber_id).values_list("public_id", flat=True).first()
        if public_id is not None:
            names.append(str(public_id))
    needles = sorted({json.dumps(name, ensure_ascii=ascii).encode() for name in names for ascii in (False, True)})
    if not needles:
        return {"api_answers_erased": 0}
    find = "position(%s in body) > 0" if connection.vendor == "postgresql" else "instr(body, %s) > 0"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {IdempotencyRecord._meta.db_table} SET status_code = %s, body = %s, content_type = %s "  # noqa: S608
            f"WHERE body IS NOT NULL AND ({' OR '.join([find] * len(needles))})",
            [410, ERASED_ANSWER, "application/json", *needles],
        )
        return {"api_answers_erased": cursor.rowcount}
