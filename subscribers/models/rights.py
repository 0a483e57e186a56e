"""Requests to exercise a data-protection right, each with its statutory deadline, and the log of erasures."""

from django.db import models
from django.utils import timezone

from .core import Subscriber, User


class RightsRequestKind(models.TextChoices):
    ACCESS = "access", "A copy of their data"
    ERASURE = "erasure", "Erasure"
    CORRECTION = "correction", "Correction"
    OBJECTION = "objection", "Objection to sharing with third parties"


class RightsRequestChannel(models.TextChoices):
    SELF_SERVICE = "self_service", "Their account"
    EMAIL = "email", "Email"
    POST = "post", "Post"
    TELEPHONE = "telephone", "Telephone"


class RightsRequestStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    REFUSED = "refused", "Refused"


class RightsRequest(models.Model):
    """One request from a person to exercise a right, received on a date and due one calendar month later."""

    kind = models.CharField(max_length=16, choices=RightsRequestKind.choices)
    channel = models.CharField(max_length=16, choices=RightsRequestChannel.choices)
    status = models.CharField(max_length=16, choices=RightsRequestStatus.choices, default=RightsRequestStatus.OPEN)
    # Whom it is about; empty once that person is erased (the request itself stays, as a record that it was met).
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="rights_requests"
    )
    received_on = models.DateField(help_text="The day the request reached us, by any channel.")
    deadline = models.DateField(help_text="One calendar month after receipt (the next working day if that is not).")
    note = models.CharField(
        max_length=255, blank=True, help_text="A reference for staff, such as 'letter of 3 March'. Not their details."
    )
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["deadline", "pk"]
        indexes = [models.Index(fields=["status", "deadline"])]

    def __str__(self):
        return f"{self.get_kind_display()} request received {self.received_on:%Y-%m-%d}, due {self.deadline:%Y-%m-%d}"


class ErasureSource(models.TextChoices):
    SELF_SERVICE = "self_service", "The person, from their account"
    STAFF = "staff", "Staff, on the person's request"


class ErasureRecord(models.Model):
    """That an erasure happened, when, and on whose initiative: never whom it erased."""

    erased_at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.CharField(max_length=16, choices=ErasureSource.choices)
    performed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    request = models.ForeignKey(
        RightsRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="erasures"
    )
    # What was deleted or anonymised, as counts: {"subscriptions": 2, "deliveries": 14, ...}.
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self):
        return f"Erasure at {self.erased_at:%Y-%m-%d %H:%M} ({self.get_source_display()})"


class AccessExport(models.Model):
    """A copy of everything held about one person: a zip prepared in the background, then reachable through a
    link sent to their confirmed address, until it expires (7 days) and the file is deleted."""

    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="access_exports"
    )
    request = models.ForeignKey(RightsRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports")
    requested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # SHA-256 of the random secret in the download link (the link itself is never stored).
    nonce_hash = models.CharField(max_length=64, unique=True)
    file_name = models.CharField(max_length=100, blank=True, help_text="Under ACCESS_EXPORT_ROOT.")
    checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the zip.")
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        state = "purged" if self.purged_at else "ready" if self.ready_at else "being prepared"
        return f"Access export of {self.created_at:%Y-%m-%d %H:%M} ({state})"
