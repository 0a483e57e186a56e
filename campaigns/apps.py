from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaign pages, rendering, audiences, the sending pipeline and SES feedback (built in later issues)."""

    name = "campaigns"
    verbose_name = "Campaigns"
    default_auto_field = "django.db.models.BigAutoField"
