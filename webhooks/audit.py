"""This app's staff actions in Wagtail's audit log (Reports > Site history), through ``subscribers.audit.ActionLog``.
Entries name the endpoint, never a secret."""

from subscribers.audit import ActionLog

WEBHOOK_LOG = ActionLog(
    {
        "webhooks.endpoint_create": ("Add webhook endpoint", "Added a webhook endpoint"),
        "webhooks.endpoint_update": ("Change webhook endpoint", "Changed a webhook endpoint"),
        "webhooks.endpoint_secret_rotate": ("Rotate webhook secret", "Rotated a webhook endpoint's secret"),
        "webhooks.endpoint_delete": ("Delete webhook endpoint", "Deleted a webhook endpoint"),
        "webhooks.delivery_resend": ("Send webhook again", "Sent a webhook delivery again"),
    }
)
