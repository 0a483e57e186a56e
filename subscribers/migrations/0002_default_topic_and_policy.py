"""General Subscription exists by default, and so does a first privacy policy version to record consent against."""

from django.db import migrations
from django.utils import timezone

INITIAL_POLICY_TEXT = (
    "Placeholder privacy policy. Staff replace it by publishing the shop's own policy as a new version "
    "in the admin; consent given before then names this version."
)


def create_defaults(apps, schema_editor):
    Topic = apps.get_model("subscribers", "Topic")
    PrivacyPolicyVersion = apps.get_model("subscribers", "PrivacyPolicyVersion")
    if not Topic.objects.filter(is_default=True).exists():
        Topic.objects.get_or_create(
            slug="general",
            defaults={"name": "General Subscription", "is_default": True, "position": 0,
                      "description": "News, new collections and offers."},
        )
    if not PrivacyPolicyVersion.objects.exists():
        PrivacyPolicyVersion.objects.create(version="1.0", published_at=timezone.now(), text=INITIAL_POLICY_TEXT)


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
