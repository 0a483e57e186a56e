"""Make an API key and print it once, on its own line, last (so ``| tail -n 1`` captures it)."""

from django.core.management.base import BaseCommand, CommandError

from api.scopes import SCOPE_NAMES
from api.services import ApiKeyError, api_key_create
from subscribers.errors import ActionForbidden
from subscribers.models import User


class Command(BaseCommand):
    help = f"Create an API key with the given scopes and print it once. Scopes: {', '.join(SCOPE_NAMES)}."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="A unique name saying what the key is for.")
        parser.add_argument("--scopes", required=True, help="Comma-separated, e.g. subscribers:read,subscribers:write")
        parser.add_argument(
            "--created-by",
            default="",
            help="Email address of the staff member responsible, named in the audit log (needs the permission to "
            "manage API keys, or to be a superuser).",
        )

    def handle(self, *args, name, scopes, created_by, **options):
        staff = None
        if created_by:
            staff = User.objects.filter(email__iexact=created_by.strip(), is_staff=True).first()
            if staff is None:
                raise CommandError(f"--created-by: no staff account has the address {created_by}. No key was made.")
        try:
            made = api_key_create(name=name, scopes=scopes, created_by=staff)
        except ApiKeyError as err:
            raise CommandError(f"--{err.field or 'name'}: {err} No key was made.") from err
        except ActionForbidden as err:
            raise CommandError(f"{err} No key was made.") from err
        self.stdout.write(
            f"Created the API key “{made.api_key.name}” (prefix {made.api_key.prefix}) with the scopes "
            f"{', '.join(made.api_key.scopes)}.\n"
            "This is the only time the key is shown: store it in a secret store now. Only its hash is kept."
        )
        self.stdout.write(made.key)
