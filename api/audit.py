"""The API's staff actions in Wagtail's audit log: creating and revoking keys. What is done *with* a key is logged by
the action itself, with the key's service user as the actor (``api.services``)."""

from subscribers.audit import ActionLog

API_LOG = ActionLog(
    {
        "api.key_create": ("Create an API key", "Created an API key"),
        "api.key_revoke": ("Revoke an API key", "Revoked an API key"),
    }
)
