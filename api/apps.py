from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API: keys, authentication, scopes, errors, paging, idempotency and the endpoints."""

    name = "api"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from subscribers.personal_data import eraser_register

        from .services import idempotency_answers_erase

        eraser_register("api-answers", idempotency_answers_erase)
