"""Seed the demo's campaigns: the campaign index, the email brand and one campaign using every block."""

from django.conf import settings
from django.core.management.base import BaseCommand

from campaigns.authoring.demo_content import campaign_index, demo_campaign
from campaigns.models import BrandSettings


class Command(BaseCommand):
    help = "Create the campaign index, the email brand settings and a demo campaign (idempotent)."

    def handle(self, *args, **options):
        brand = BrandSettings.load()
        if not brand.default_sender:
            brand.default_sender = settings.CAMPAIGN_SENDERS[0] if settings.CAMPAIGN_SENDERS else ""
            brand.save()
        campaign_index()
        page = demo_campaign()
        self.stdout.write(self.style.SUCCESS(f"Demo campaign ready: {page.title} (/admin/pages/{page.pk}/edit/)."))
