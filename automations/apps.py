from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    """Automations: a trigger and ordered steps, a run per person, one ledger row per run and email step."""

    name = "automations"
    verbose_name = "Automations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The audit log's action types are registered here, not in the admin's hooks file, because the services
        # write them wherever they are called from (the API, a shell, a test), admin or not.
        from wagtail import hooks

        from automations.audit import AUTOMATION_LOG
        from automations.feedback import automation_feedback_apply
        from automations.personal_data import automations_erase, automations_export
        from automations.selectors import automation_uses_of_attribute
        from automations.triggers import subscription_event_hear, subscription_event_heard
        from campaigns.feedback.events import feedback_listener_register
        from subscribers.attribute_users import attribute_users_register
        from subscribers.outbound import outbound_publisher_register
        from subscribers.personal_data import eraser_register, exporter_register

        hooks.register("register_log_actions", AUTOMATION_LOG.register)
        outbound_publisher_register(
            subscription_event_hear, name="automations.topic_confirmed", listens=subscription_event_heard
        )
        feedback_listener_register("automations", automation_feedback_apply)
        eraser_register("automations", automations_erase)
        exporter_register("automations", automations_export)
        attribute_users_register("automations", automation_uses_of_attribute)
