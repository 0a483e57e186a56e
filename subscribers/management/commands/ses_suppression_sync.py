"""manage.py ses_suppression_sync: make our suppression list and the SES account-level one agree."""

from django.core.management.base import BaseCommand, CommandError

from mailer.ses import SesError
from subscribers.services.ses_suppression import suppression_sync_with_ses


class Command(BaseCommand):
    help = (
        "Suppress here every address on the SES account-level suppression list, and add to it every address "
        "suppressed here for a bounce or complaint whose address we still hold. Both directions unless told."
    )

    def add_arguments(self, parser):
        direction = parser.add_mutually_exclusive_group()
        direction.add_argument("--pull-only", action="store_true", help="only copy SES's list into ours")
        direction.add_argument("--push-only", action="store_true", help="only copy ours into SES's list")
        parser.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")

    def handle(self, *args, pull_only: bool, push_only: bool, dry_run: bool, **options):
        try:
            result = suppression_sync_with_ses(pull=not push_only, push=not pull_only, dry_run=dry_run)
        except SesError as err:
            raise CommandError(f"{err} Nothing was changed by the part that failed.") from err
        would = "would be " if dry_run else ""
        self.stdout.write(f"From SES into ours: {result.pulled} {would}suppressed here.")
        self.stdout.write(f"From ours into SES: {result.pushed} {would}added to the SES list.")
        self.stdout.write(f"Already suppressed on both sides: {result.already}.")
        if result.not_pushable:
            self.stdout.write(
                f"Not pushable: {result.not_pushable} suppressed here whose address we no longer hold "
                "(erased, or never a subscriber); they stay suppressed here."
            )
