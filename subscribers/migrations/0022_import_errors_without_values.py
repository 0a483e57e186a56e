import re

from django.db import migrations

# How an attribute value's row error read before it left the cell out: the cell in single quotes (at most 40
# characters, "…" after 39) before what is wrong with it, as "'1975-13-02' is not a date (use YYYY-MM-DD).".
# The other row errors that quote a cell (a topic or policy version that does not exist) say something else after it.
QUOTED_CELL = re.compile(
    r"^'.{0,40}' (?=is not a number|is not a date|is not yes or no|is not one of the choices|has more than \d+ decimal"
    r"|is too large)",
    re.DOTALL,
)


def _without_values(errors):
    """``errors`` ([line, column, problem] each) with any quoted cell taken out of the problems; whether any was."""
    changed, cleaned = False, []
    for error in errors or []:
        if isinstance(error, list) and len(error) == 3 and isinstance(error[2], str):
            problem = QUOTED_CELL.sub("", error[2])
            if problem != error[2]:
                changed, error = True, [error[0], error[1], problem]
        cleaned.append(error)
    return cleaned, changed


def import_errors_without_values(apps, schema_editor):
    """Take the cells out of the row errors kept with imports checked before errors left them out (a date of birth,
    an amount: personal data that would otherwise outlive the person's erasure): the errors, and those of the dry
    run's and the run's reports."""
    SubscriberImport = apps.get_model("subscribers", "SubscriberImport")
    for job in SubscriberImport.objects.only("pk", "errors", "dry_run_report", "report").iterator():
        fields = []
        job.errors, changed = _without_values(job.errors)
        if changed:
            fields.append("errors")
        for name in ("dry_run_report", "report"):
            report = getattr(job, name) or {}
            errors, changed = _without_values(report.get("errors"))
            if changed:
                setattr(job, name, {**report, "errors": errors})
                fields.append(name)
        if fields:
            job.save(update_fields=fields)


class Migration(migrations.Migration):
    """Row errors stored before 8 December 2026 quoted the attribute cell they were about; they no longer do
    (docs/imports.md)."""

    dependencies = [
        ("subscribers", "0021_import_write_fewer_indexes"),
    ]

    operations = [
        migrations.RunPython(import_errors_without_values, migrations.RunPython.noop, elidable=True),
    ]
