"""Write the archive for a sale or transfer of the business, and log it as a disclosure."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from subscribers.errors import ActionForbidden
from subscribers.models import User
from subscribers.services.business_transfer import business_transfer_export
from subscribers.services.errors import DisclosureError


class Command(BaseCommand):
    help = (
        "Write a complete, checksummed zip of every subscriber's data with its consent evidence, for the new owner "
        "of the business, and log it as a disclosure. Refuses to overwrite an existing file."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, help="Path of the zip to create; it must not exist yet.")
        parser.add_argument("--recipient", required=True, help='Who receives it, such as "Buyer Holdings Ltd".')
        parser.add_argument(
            "--made-by",
            required=True,
            help="Email address of the staff member responsible, named in the disclosure log and the audit log. "
            "They need the permission to export for a sale (a privacy officer, or a superuser).",
        )

    def handle(self, *args, output, recipient, made_by, **options):
        staff = User.objects.filter(email__iexact=made_by.strip(), is_staff=True).first()
        if staff is None:
            raise CommandError(f"--made-by: no staff account has the address {made_by}. Nothing was written.")
        try:
            result = business_transfer_export(
                output=Path(output), recipient=recipient, made_by=staff, progress=self.stdout.write
            )
        except (DisclosureError, ActionForbidden) as err:
            raise CommandError(f"{err} Nothing was written.") from err
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {result.path} ({result.path.stat().st_size:,} bytes) for {result.disclosure.recipient}.\n"
                f"SHA-256 of the archive: {result.checksum}\n"
                f"Logged as disclosure #{result.disclosure.pk}: {result.disclosure.row_count:,} people."
            )
        )
