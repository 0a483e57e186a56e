"""Imports started in the admin: the uploaded file kept in a private place, the mapping chosen, a dry run and then
the import run by a Celery task with its progress in the cache, and the file deleted when the import ends or after
IMPORT_FILE_HOURS (``import_files_purge``, hourly)."""

import logging
import secrets
import unicodedata
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ... import permissions
from ...audit import SUBSCRIBER_LOG
from ...models import Attribute, SubscriberImport, SubscriberImportStatus, Topic
from ..errors import ImportFileRefused, ImportMappingError, SubscriberImportError
from .engine import subscribers_import
from .reader import csv_header_read, mapping_check, mapping_guess, size_text
from .rows import ImportOptions

logger = logging.getLogger(__name__)
PROGRESS_KEY = "subscriber-import:{}:progress"
RUN_LOCK_KEY = "subscriber-import:{}:running"
# Longer than an import takes (a million rows: about two minutes), shorter than the broker's redelivery delay.
RUN_LOCK_SECONDS = 30 * 60


def _root() -> Path:
    root = Path(settings.IMPORT_FILE_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def import_file_path(job: SubscriberImport) -> Path:
    return _root() / job.stored_name


def import_upload(*, upload, created_by) -> SubscriberImport:
    """Keep an uploaded file (a Django UploadedFile) under IMPORT_FILE_ROOT and read its header. Raises
    ImportFileRefused (the file is not kept) for a file that is too big, empty, not UTF-8 or without a header, and
    ActionForbidden unless ``created_by`` may import."""
    permissions.actor_require(created_by, permissions.IMPORT, action="import subscribers")
    if upload.size > settings.IMPORT_MAX_FILE_BYTES:
        raise ImportFileRefused(
            f"The file is {size_text(upload.size)}, over the limit of {size_text(settings.IMPORT_MAX_FILE_BYTES)}. "
            "Split it into smaller files."
        )
    stored_name = f"{secrets.token_hex(16)}.csv"
    path = _root() / stored_name
    try:
        with open(path, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        columns = csv_header_read(path)
        return SubscriberImport.objects.create(
            created_by=created_by,
            file_name=_file_name_shown(upload.name),
            file_size=upload.size,
            stored_name=stored_name,
            columns=columns,
            mapping=mapping_guess(columns, Attribute.objects.all()),
        )
    except BaseException:
        # Refused, or failed for any other reason: a file no import refers to would never be purged.
        path.unlink(missing_ok=True)
        raise


def _file_name_shown(name: str | None) -> str:
    """The uploaded file's name as the admin shows it: its last part, without control characters (a browser never
    sends them; a hand-made request may, and PostgreSQL cannot store a NUL)."""
    shown = "".join(ch for ch in Path(name or "").name if unicodedata.category(ch) != "Cc")
    return shown[:255] or "upload.csv"


def import_options_save(
    *,
    job: SubscriberImport,
    mapping: dict[str, str],
    topic: Topic | None,
    source: str,
    policy_version: str,
    skip_bad_rows: bool,
) -> SubscriberImport:
    """Record the columns and whole-file values chosen. Raises ImportMappingError when they do not fit the file."""
    mapping = {field: column for field, column in mapping.items() if column}
    mapping_check(columns=job.columns, mapping=mapping)
    if topic is None and "topic" not in mapping:
        raise ImportMappingError("Choose a topic for the whole file, or the column that names each row's topic.")
    with transaction.atomic():
        job = SubscriberImport.objects.select_for_update().get(pk=job.pk)
        if job.status not in (SubscriberImportStatus.UPLOADED, SubscriberImportStatus.CHECKED):
            raise ImportMappingError(f"This import is {job.get_status_display().lower()}; its columns are fixed.")
        job.mapping = mapping
        job.options = {
            "topic_id": topic.pk if topic else None,
            "source": source,
            "policy_version": policy_version,
            "skip_bad_rows": skip_bad_rows,
        }
        job.status = SubscriberImportStatus.UPLOADED
        job.dry_run_report = {}
        job.save(update_fields=["mapping", "options", "status", "dry_run_report"])
    return job


def import_start(*, job: SubscriberImport, dry_run: bool, user) -> SubscriberImport:
    """Queue the dry run (after the mapping is saved) or the import (after a dry run that found it importable),
    started by ``user`` (in the audit log). Refused with ActionForbidden unless they may import."""
    from ...tasks import subscriber_import_task

    permissions.actor_require(user, permissions.IMPORT, action="import subscribers")
    with transaction.atomic():
        job = SubscriberImport.objects.select_for_update().get(pk=job.pk)
        if dry_run and job.status not in (SubscriberImportStatus.UPLOADED, SubscriberImportStatus.CHECKED):
            raise ImportMappingError(f"This import is {job.get_status_display().lower()}: it cannot be checked now.")
        if not dry_run and (
            job.status != SubscriberImportStatus.CHECKED or job.dry_run_report.get("refused_for_errors")
        ):
            raise ImportMappingError("Run the dry run first; the import starts from its report.")
        if not job.stored_name:
            raise ImportMappingError("The uploaded file has been deleted; upload it again.")
        job.status = SubscriberImportStatus.CHECKING if dry_run else SubscriberImportStatus.IMPORTING
        job.started_at, job.finished_at = timezone.now(), None
        job.save(update_fields=["status", "started_at", "finished_at"])
        cache.set(PROGRESS_KEY.format(job.pk), {"phase": "queued", "rows": 0, "percent": 0}, 86400)
        SUBSCRIBER_LOG.write(
            instance=job,
            action="subscribers.import_dry_run" if dry_run else "subscribers.import_start",
            user=user,
            data={"file": job.file_name, "bytes": job.file_size},
            title=f"Import {job.pk} of {job.file_name}",
        )
        transaction.on_commit(lambda: subscriber_import_task.delay(import_id=job.pk, dry_run=dry_run))
    return job


def import_execute(*, import_id: int, dry_run: bool) -> SubscriberImport:
    """Run the engine for a queued job (the Celery task's work) and record its report."""
    job = SubscriberImport.objects.get(pk=import_id)
    if job.status not in SubscriberImport.RUNNING:
        return job  # a duplicate delivery of the task, after the first finished
    # A duplicate delivery while the first still runs waits for nothing and does nothing. The lock expires, so a
    # delivery after a worker died mid-import (whose transaction was rolled back) runs it again.
    lock = RUN_LOCK_KEY.format(job.pk)
    if not cache.add(lock, 1, RUN_LOCK_SECONDS):
        return job
    try:
        return _import_run(job, dry_run=dry_run)
    finally:
        cache.delete(lock)


def _import_run(job: SubscriberImport, *, dry_run: bool) -> SubscriberImport:
    key = PROGRESS_KEY.format(job.pk)
    options = ImportOptions(
        mapping=job.mapping,
        topic=Topic.objects.filter(pk=job.options.get("topic_id")).first(),
        source=job.options.get("source", ""),
        policy_version=job.options.get("policy_version", ""),
        skip_bad_rows=job.options.get("skip_bad_rows", False),
        dry_run=dry_run,
    )
    fields = ["status", "finished_at", "message", "errors", "error_count"]
    try:
        report = subscribers_import(
            path=import_file_path(job), options=options, progress=lambda state: cache.set(key, state, 86400)
        )
    except SubscriberImportError as err:
        job.status, job.message = SubscriberImportStatus.REFUSED, str(err)[:500]
        job.errors, job.error_count = [], 0
    except Exception:
        logger.exception("Subscriber import %s failed", job.pk)
        job.status = SubscriberImportStatus.FAILED
        job.message = "The import stopped with an unexpected error; nothing was imported. The worker's log has details."
    else:
        job.errors, job.error_count = report.errors, report.error_count
        if dry_run:
            job.status, job.dry_run_report = SubscriberImportStatus.CHECKED, report.as_dict()
            fields.append("dry_run_report")
        else:
            job.report = report.as_dict()
            fields.append("report")
            job.status = SubscriberImportStatus.DONE if report.committed else SubscriberImportStatus.REFUSED
            if not report.committed:
                job.message = f"{report.error_rows:,} row(s) have errors, so nothing was imported."
    job.finished_at = timezone.now()
    cache.set(key, {"phase": "finished", "rows": 0, "percent": 100}, 86400)
    if job.is_final:
        _file_delete(job)
        fields += ["stored_name", "file_deleted_at"]
    job.save(update_fields=fields)
    return job


def import_progress(*, job: SubscriberImport) -> dict:
    """What the progress page polls: the job's status and, while it runs, how far it got. No addresses."""
    state = (cache.get(PROGRESS_KEY.format(job.pk)) or {}) if job.is_running else {}
    return {
        "status": job.status,
        "phase": state.get("phase", job.status),
        "rows": state.get("rows", 0),
        "percent": 100 if not job.is_running else state.get("percent", 0),
    }


def _file_delete(job: SubscriberImport) -> None:
    if job.stored_name:
        import_file_path(job).unlink(missing_ok=True)
        job.stored_name, job.file_deleted_at = "", timezone.now()


def import_files_purge() -> int:
    """Delete uploaded files older than IMPORT_FILE_HOURS. An import never run expires; one still marked running
    after that long lost its worker, and is marked failed (its transaction was rolled back with the worker)."""
    cutoff = timezone.now() - timedelta(hours=settings.IMPORT_FILE_HOURS)
    purged = 0
    for job_id in SubscriberImport.objects.filter(created_at__lt=cutoff).exclude(stored_name="").values_list(
        "pk", flat=True
    ):
        purged += _job_purge(job_id, cutoff)
    return purged


def _job_purge(job_id: int, cutoff) -> int:
    """Purge one job's file, with the job's row locked so that an import starting meanwhile is not overwritten."""
    with transaction.atomic():
        job = SubscriberImport.objects.select_for_update().filter(pk=job_id).exclude(stored_name="").first()
        if job is None or (job.is_running and job.started_at and job.started_at >= cutoff):
            return 0
        _file_delete(job)
        if job.is_running:
            job.status, job.message = SubscriberImportStatus.FAILED, "The import never finished; nothing was imported."
        elif not job.is_final:
            job.status = SubscriberImportStatus.EXPIRED
        job.save(update_fields=["stored_name", "file_deleted_at", "status", "message"])
        return 1
