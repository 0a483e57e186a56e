"""Seed the demo's automations: a three-email welcome series on General Subscription, active."""

from django.core.management.base import BaseCommand

from automations.admin.steps import duration_text
from automations.demo_content import welcome_series

# Three days between the emails, as a shop would send them; ``make demo`` shortens it (DEMO_AUTOMATION_WAIT_SECONDS)
# so that the whole series can be watched arriving.
DEFAULT_WAIT_SECONDS = 3 * 86400


class Command(BaseCommand):
    help = "Create the demo welcome series (three emails after a confirmed subscription) and activate it (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait-seconds",
            type=int,
            default=DEFAULT_WAIT_SECONDS,
            help=f"The wait between two emails of the series, in seconds (default {DEFAULT_WAIT_SECONDS}).",
        )

    def handle(self, *args, wait_seconds: int, **options):
        if wait_seconds < 1:
            self.stderr.write("--wait-seconds must be at least 1.")
            raise SystemExit(2)
        automation = welcome_series(wait_seconds=wait_seconds)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo automation ready: {automation.name}, {duration_text(wait_seconds)} between emails "
                f"(/admin/automations/{automation.pk}/)."
            )
        )
