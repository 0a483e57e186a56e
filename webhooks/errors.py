"""The webhooks domain's exceptions. Services raise them; the admin (and the API) turn them into messages."""

from subscribers.errors import FormFieldError


class WebhookError(FormFieldError):
    """An endpoint cannot be saved or a delivery sent again as asked; ``field`` names the field at fault. Nothing
    was changed."""


class WebhookUrlRefused(WebhookError):
    """The URL is not http(s), or its host resolves to an address the platform must not post to."""
