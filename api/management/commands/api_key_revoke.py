"""Revoke an API key by name: it stops working at once."""

from django.core.management.base import BaseCommand, CommandError

from api.models import ApiKey
from api.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke the API key with this name. Requests with it are refused (401) from now on."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The key's name, as shown in the admin (Settings > API keys).")

    def handle(self, *args, name, **options):
        api_key = ApiKey.objects.filter(name=name.strip()).first()
        if api_key is None:
            names = ", ".join(ApiKey.objects.values_list("name", flat=True)[:20]) or "none"
            raise CommandError(f"No API key is named “{name}”. The keys are: {names}.")
        if api_key.revoked_at is not None:
            when = f"{api_key.revoked_at:%Y-%m-%d %H:%M}"
            self.stdout.write(f"The API key “{api_key.name}” was already revoked on {when} UTC.")
            return
        api_key_revoke(api_key=api_key)
        self.stdout.write(f"Revoked the API key “{api_key.name}” (prefix {api_key.prefix}).")
