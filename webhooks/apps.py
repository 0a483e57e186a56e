from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outgoing webhooks: endpoints, the event and delivery ledger, signing, delivery on the ``webhooks`` queue."""

    name = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from subscribers.outbound import outbound_publisher_register
        from subscribers.personal_data import eraser_register

        from .publishing import webhook_event_publish, webhook_event_wanted, webhook_event_wanted_sql, webhooks_erase

        outbound_publisher_register(
            webhook_event_publish, name="webhooks", listens=webhook_event_wanted, listens_sql=webhook_event_wanted_sql
        )
        eraser_register("webhooks", webhooks_erase)
