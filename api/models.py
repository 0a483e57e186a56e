"""API keys and the answers kept for ``Idempotency-Key`` replays. Data and invariants only (services.py changes
them)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiKey(models.Model):
    """A key another system uses to call the API. Only a SHA-256 of its secret is stored.

    The key string is ``nlk_<prefix>_<secret>``: the prefix (shown in the admin and in the key user's name) finds
    the row, the secret is compared with the stored hash in constant time. The secret is 32 random bytes, so a
    fast hash is enough: nothing can be guessed by trying passwords against it.
    """

    name = models.CharField(max_length=100, unique=True, help_text="What the key is for, e.g. “Shop checkout”.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    # The key's own service user: the actor of everything done with it (audit log, permission checks).
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_key", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"
        permissions = [("manage_api_keys", "Can create and revoke API keys")]

    def __str__(self):
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first answer to a POST carrying an ``Idempotency-Key`` header, replayed for 24 hours.

    The row is inserted *before* the request acts, under a unique constraint, so two concurrent requests with the
    same key cannot both act: the second finds the row (still without an answer) and is told to retry.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path and body: the same key with another request is refused, not replayed.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.BinaryField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="one_answer_per_idempotency_key")]

    def __str__(self):
        return f"Idempotency-Key {self.key} ({self.status_code or 'in progress'})"
