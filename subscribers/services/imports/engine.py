"""The import engine, shared by ``manage.py import_subscribers`` and the admin: one pass over the file checks every
row in Python and streams the good ones into a staging table; set-based SQL then decides and writes the rest.

Everything happens in one transaction. It is rolled back, so that nothing at all changes, for a dry run, for a
file refused as a whole, and for a file with row errors unless "skip bad rows" was chosen.
"""

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ...selectors import policy_version_current
from . import sql
from .reader import csv_open, mapping_check
from .rows import ImportOptions, RowChecker

PROGRESS_EVERY_ROWS = 2_000


@dataclass
class ImportReport:
    """What an import did, or for a dry run would do. ``errors`` holds the first IMPORT_MAX_ERRORS problems as
    [line, column, problem]; ``error_count`` counts them all and ``error_rows`` the rows they are on."""

    dry_run: bool
    skip_bad_rows: bool
    rows: int = 0
    subscribers_created: int = 0
    subscriptions_created: int = 0
    subscriptions_activated: int = 0
    consent_events: int = 0
    attribute_columns: int = 0  # columns mapped to attributes
    attribute_values: int = 0  # values set (written only: a dry run does not count them)
    suppressed: int = 0
    already_active: int = 0
    unsubscribed_earlier: int = 0
    duplicates: int = 0
    changed_meanwhile: int = 0  # rows whose subscriber someone else created, or deleted, between plan and writes
    error_rows: int = 0
    error_count: int = 0
    errors: list = field(default_factory=list)
    committed: bool = False
    reference_checks: str = ""  # how the foreign keys of the rows written were checked: see references
    seconds: dict = field(default_factory=dict)

    @property
    def refused_for_errors(self) -> bool:
        """Row errors without "skip bad rows": nothing is (or would be) imported."""
        return self.error_rows > 0 and not self.skip_bad_rows

    def as_dict(self) -> dict:
        data = asdict(self)
        data["refused_for_errors"] = self.refused_for_errors
        return data

    def summary_lines(self) -> list[str]:
        would = "would be " if self.dry_run or self.refused_for_errors else ""
        lines = [
            f"Rows read: {self.rows:,}",
            f"Subscribers {would}created: {self.subscribers_created:,}",
            f"Subscriptions {would}created: {self.subscriptions_created:,}",
            f"Pending subscriptions {would}made active: {self.subscriptions_activated:,}",
            f"Consent events {would}recorded: {self.consent_events:,}",
            f"Skipped, address suppressed (erased, unsubscribed, bounced, complained): {self.suppressed:,}",
            f"Skipped, already subscribed: {self.already_active:,}",
            f"Skipped, unsubscribed earlier from that topic: {self.unsubscribed_earlier:,}",
            f"Skipped, duplicate of an earlier row (same address and topic): {self.duplicates:,}",
            *(
                [f"Skipped, changed while the import ran (signed up or erased meanwhile): {self.changed_meanwhile:,}"]
                if self.changed_meanwhile
                else []
            ),
            *(
                [f"Attribute values set: {self.attribute_values:,}"]
                if self.committed and self.attribute_columns
                else []
            ),
            f"Rows with errors: {self.error_rows:,}",
        ]
        return lines


Progress = Callable[[dict], None]


def subscribers_import(*, path: Path, options: ImportOptions, progress: Progress | None = None) -> ImportReport:
    """Import (or, with ``options.dry_run``, only check) the CSV file at ``path``.

    Raises ImportFileRefused when the file cannot be read as a whole (nothing written) and ImportMappingError for a
    mapping that does not fit the file. Row problems are reported, not raised.
    """
    report = ImportReport(dry_run=options.dry_run, skip_bad_rows=options.skip_bad_rows)
    notify = progress or (lambda state: None)
    started = time.monotonic()
    max_errors = settings.IMPORT_MAX_ERRORS
    with open(path, "rb") as handle:
        stream = csv_open(path, handle)
        positions = mapping_check(columns=stream.columns, mapping=options.mapping)
        checker = RowChecker(positions=positions, columns=stream.columns, options=options)
        report.attribute_columns = len(checker.attributes)
        # Reading, checking and staging (most of an import's time) write only to a temporary table, outside the
        # transaction: on SQLite a transaction holds the database's write lock, which would make every unsubscribe,
        # SES notification and send wait for the whole file.
        sql.staging_create(attributes=checker.attributes)
        try:
            clock = time.monotonic()
            error_rows = 0
            with _savepoint_if_in_transaction(), sql.StagingWriter(attributes=checker.attributes) as staging:
                add = staging.add
                for line, cells in stream.rows():
                    report.rows += 1
                    row, errors = checker.check(line, cells)
                    if errors:
                        error_rows += 1
                        report.error_count += len(errors)
                        room = max_errors - len(report.errors)
                        if room > 0:
                            report.errors.extend(list(e) for e in errors[:room])
                    else:
                        add(row)
                    if report.rows % PROGRESS_EVERY_ROWS == 0:
                        notify(_state("reading", report.rows, stream.bytes_read, stream.size))
            report.error_rows = error_rows
            report.seconds["read_and_stage"] = round(time.monotonic() - clock, 2)
            notify(_state("checking", report.rows, stream.size, stream.size))
            clock = _plan_and_write(report, options, notify, stream.size, attributes=checker.attributes)
        finally:
            sql.staging_drop()
    if report.committed:
        # Unless they were checked set-based, PostgreSQL checks the new rows' foreign keys at commit (Django makes
        # them deferrable).
        report.seconds["commit"] = round(time.monotonic() - clock, 2)
    report.seconds["total"] = round(time.monotonic() - started, 2)
    return report


def _savepoint_if_in_transaction():
    """Called inside someone else's transaction (a test, a script), a file refused halfway through staging must
    leave that transaction usable, so the staging table can still be dropped: a savepoint. Otherwise, nothing."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _plan_and_write(report: ImportReport, options: ImportOptions, notify: Progress, size: int, *, attributes) -> float:
    """Decide every staged row's outcome and, unless this is a dry run or the file has row errors that were not to
    be skipped, write them: one transaction, rolled back whole on any failure. Returns when the commit began."""
    clock = time.monotonic()
    writing = not (options.dry_run or report.refused_for_errors)
    with transaction.atomic():
        counts = sql.plan_build(for_writing=writing, attributes=attributes)
        report.seconds["plan"] = round(time.monotonic() - clock, 2)
        report.duplicates = counts["duplicate"]
        report.suppressed = counts["suppressed"]
        report.already_active = counts["active"]
        report.unsubscribed_earlier = counts["unsubscribed"]
        report.subscribers_created = counts["new_subscribers"]
        report.subscriptions_created = counts["new"]
        report.subscriptions_activated = counts["pending"]
        report.consent_events = counts["new"] + counts["pending"]
        if not writing:
            transaction.set_rollback(True)
            return clock
        notify(_state("writing", report.rows, size, size))
        clock = time.monotonic()
        current = policy_version_current()
        written = sql.plan_write(
            now=timezone.now(), policy_version_id=current.pk if current else None, counts=counts, attributes=attributes
        )
        report.seconds["write"] = round(time.monotonic() - clock, 2)
        for name, value in written.items():
            setattr(report, name, value)
        report.committed = True
        return time.monotonic()


def _state(phase: str, rows: int, done_bytes: int, total_bytes: int) -> dict:
    """Progress for a bar: reading is the first 90%, the set-based writes the rest."""
    share = done_bytes / total_bytes if total_bytes else 1.0
    percent = {"reading": 90 * share, "checking": 92, "writing": 95}[phase]
    return {"phase": phase, "rows": rows, "percent": round(percent, 1)}
