"""Imports of subscribers from a CSV file: one row per import job, never the file's rows themselves."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class SubscriberImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded: choose the columns"
    CHECKING = "checking", "Checking (dry run)"
    CHECKED = "checked", "Checked: ready to import"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Imported"
    REFUSED = "refused", "Refused: nothing imported"
    FAILED = "failed", "Failed: nothing imported"
    EXPIRED = "expired", "Expired: the file was deleted"


class SubscriberImport(models.Model):
    """One CSV import started in the admin: who, when, which file, the column mapping and options chosen, where it
    stands, and what it did (counts and the first row errors). The uploaded file lives under IMPORT_FILE_ROOT
    until the import ends or IMPORT_FILE_HOURS pass, whichever is first; its rows are never copied here."""

    FINAL = (
        SubscriberImportStatus.DONE,
        SubscriberImportStatus.REFUSED,
        SubscriberImportStatus.FAILED,
        SubscriberImportStatus.EXPIRED,
    )
    RUNNING = (SubscriberImportStatus.CHECKING, SubscriberImportStatus.IMPORTING)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    file_name = models.CharField(max_length=255, help_text="The name the file was uploaded with.")
    file_size = models.PositiveBigIntegerField(default=0)
    stored_name = models.CharField(max_length=64, blank=True, help_text="Under IMPORT_FILE_ROOT; empty once deleted.")
    file_deleted_at = models.DateTimeField(null=True, blank=True)
    columns = models.JSONField(default=list, help_text="The file's header row.")
    mapping = models.JSONField(default=dict, help_text="Target field -> the file's column that feeds it.")
    options = models.JSONField(default=dict, help_text="Topic, source and policy version for the whole file; skip.")
    status = models.CharField(
        max_length=16, choices=SubscriberImportStatus.choices, default=SubscriberImportStatus.UPLOADED
    )
    message = models.CharField(max_length=500, blank=True, help_text="Why the file was refused or the run failed.")
    dry_run_report = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    # The first IMPORT_MAX_ERRORS row errors of the latest run: [line, column, problem]. Never a cell's value.
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("import_subscribers", "Can import subscribers from a CSV file")]

    def __str__(self):
        return f"Import of {self.file_name} ({self.get_status_display()})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING
