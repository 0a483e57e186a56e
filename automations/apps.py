from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    """Automations: a trigger and ordered steps, a run per person, one ledger row per run and email step."""

    name = "automations"
    verbose_name = "Automations"
    default_auto_field = "django.db.models.BigAutoField"
