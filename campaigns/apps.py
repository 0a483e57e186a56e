from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaign pages, rendering, audiences, the sending pipeline and SES feedback."""

    name = "campaigns"
    verbose_name = "Campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from campaigns.personal_data import campaigns_erase, campaigns_export
        from campaigns.segments.selectors import segment_uses_of_attribute
        from subscribers.attribute_users import attribute_users_register
        from subscribers.personal_data import eraser_register, exporter_register

        eraser_register("campaigns", campaigns_erase)
        exporter_register("campaigns", campaigns_export)
        attribute_users_register("segments", segment_uses_of_attribute)
