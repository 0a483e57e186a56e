"""Import subscribers from a CSV file, with their consent evidence: the same engine as the admin's import.

    manage.py import_subscribers FILE [--map field=Column ...] [--topic SLUG] [--source TEXT]
                                      [--policy-version V] [--dry-run] [--skip-bad-rows]

Exit status 0 when the file was imported (or, with --dry-run, would be); 1 when the file is refused, or has row
errors and --skip-bad-rows was not given (nothing is imported then). See docs/imports.md.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from subscribers.models import Attribute, Topic
from subscribers.selectors import topic_default
from subscribers.services.errors import SubscriberImportError
from subscribers.services.imports import (
    ATTRIBUTE_FIELD,
    FIELDS,
    ImportOptions,
    csv_header_read,
    field_label,
    mapping_check,
    mapping_guess,
    subscribers_import,
)

ERRORS_PRINTED = 100


class Command(BaseCommand):
    help = "Import subscribers from a CSV file with their consent evidence (see docs/imports.md)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="A CSV file in UTF-8 with a header row.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help=f"Which column feeds a field (repeatable); fields: {', '.join(FIELDS)}, and attribute:KEY for a "
            "declared attribute. Unmapped fields are guessed from the header (“Email”, “E-mail address”, “First "
            "name”..., an attribute's key or label); --map field= leaves a field unmapped.",
        )
        parser.add_argument(
            "--topic", help="Slug or name of the topic for rows without a topic cell (default: the default topic)."
        )
        parser.add_argument("--source", default="", help="Consent source for rows without a source cell.")
        parser.add_argument(
            "--policy-version", default="", help="Privacy policy version for rows without a policy version cell."
        )
        parser.add_argument("--dry-run", action="store_true", help="Check and report; change nothing.")
        parser.add_argument(
            "--skip-bad-rows", action="store_true", help="Import the good rows when some rows have errors."
        )

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        try:
            columns = csv_header_read(path)
            mapping = self._mapping(columns, options["map"])
            mapping_check(columns=columns, mapping=mapping)
        except SubscriberImportError as err:
            raise CommandError(str(err)) from err
        topic = self._topic(options["topic"])
        chosen = (f"{field_label(f).lower()} <- “{c}”" for f, c in mapping.items() if c)
        self.stdout.write("Columns: " + ", ".join(chosen))
        self.stdout.write(f"Topic for rows without one: {topic.name}")
        import_options = ImportOptions(
            mapping=mapping,
            topic=topic,
            source=options["source"],
            policy_version=options["policy_version"],
            skip_bad_rows=options["skip_bad_rows"],
            dry_run=options["dry_run"],
        )
        self._next_percent = 5
        try:
            report = subscribers_import(path=path, options=import_options, progress=self._progress)
        except SubscriberImportError as err:
            raise CommandError(f"{err} Nothing was imported.") from err
        self._report(report)
        if report.refused_for_errors:
            raise CommandError(
                f"{report.error_rows:,} row(s) have errors, so nothing was imported. Fix them, or run again with "
                "--skip-bad-rows to import the other rows."
            )

    def _mapping(self, columns: list[str], pairs: list[str]) -> dict[str, str]:
        mapping = mapping_guess(columns, Attribute.objects.all())
        for pair in pairs:
            field, sep, column = pair.partition("=")
            if not sep:
                raise CommandError(f'--map {pair!r}: write it as field=Column, for example email="E-mail address".')
            if field.strip() not in FIELDS and not field.strip().startswith(ATTRIBUTE_FIELD):
                raise CommandError(f"--map {pair!r}: there is no field {field!r}; the fields are {', '.join(FIELDS)}.")
            mapping = {f: c for f, c in mapping.items() if c != column.strip() or f == field.strip()}
            mapping[field.strip()] = column.strip()
        return {f: c for f, c in mapping.items() if c}

    def _topic(self, name: str | None) -> Topic:
        if not name:
            return topic_default()
        topic = Topic.objects.filter(slug__iexact=name).first() or Topic.objects.filter(name__iexact=name).first()
        if topic is None:
            raise CommandError(f"--topic: there is no topic {name!r} (give its slug or its name).")
        return topic

    def _progress(self, state: dict) -> None:
        if state["percent"] >= self._next_percent:
            self.stdout.write(f"  {state['phase']}: {state['rows']:,} rows, {state['percent']:.0f}%")
            while self._next_percent <= state["percent"]:
                self._next_percent += 5

    def _report(self, report) -> None:
        heading = (
            "Dry run: nothing was changed."
            if report.dry_run
            else ("Imported." if report.committed else "Nothing was imported.")
        )
        self.stdout.write(heading)
        for line in report.summary_lines():
            self.stdout.write(f"  {line}")
        if report.committed and report.reference_checks:
            self.stdout.write(f"  Foreign keys checked: {report.reference_checks} (see docs/imports.md)")
        for line, column, problem in report.errors[:ERRORS_PRINTED]:
            self.stdout.write(f"  line {line}, column “{column}”: {problem}")
        if report.error_count > ERRORS_PRINTED:
            self.stdout.write(f"  ... and {report.error_count - ERRORS_PRINTED:,} more problem(s).")
