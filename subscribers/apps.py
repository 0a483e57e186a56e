from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = "Subscribers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .erasers import admin_log_erase
        from .personal_data import eraser_register

        eraser_register("admin-log", admin_log_erase)
