from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = "Subscribers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .disclosure_data import disclosure_tables, disclosures_erase
        from .erasers import admin_log_erase
        from .export_data import subscriber_tables
        from .personal_data import eraser_register, exporter_register
        from .policy_data import policy_acknowledgements_erase, policy_acknowledgements_export

        eraser_register("admin-log", admin_log_erase)
        exporter_register("subscribers", subscriber_tables)
        eraser_register("disclosures", disclosures_erase)
        exporter_register("disclosures", disclosure_tables)
        eraser_register("policy-acknowledgements", policy_acknowledgements_erase)
        exporter_register("policy-acknowledgements", policy_acknowledgements_export)
