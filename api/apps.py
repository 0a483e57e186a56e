from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API: keys, authentication, scopes, errors, paging, idempotency and the endpoints."""

    name = "api"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"
