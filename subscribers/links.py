"""The one service that builds the links a subscriber receives: unsubscribe, preferences, confirm.

Email footers and the List-Unsubscribe header call these, so every email links to the same stable paths.
"""

from django.conf import settings
from django.urls import reverse

from .models import Subscriber, Subscription
from .tokens import PREFERENCES_SALT, UNSUBSCRIBE_SALT, public_token_make


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def unsubscribe_url(*, subscription: Subscription) -> str:
    """Absolute HTTPS (in production) URL that unsubscribes from one topic; also the RFC 8058 endpoint."""
    token = public_token_make(public_id=subscription.public_id, salt=UNSUBSCRIBE_SALT)
    return absolute(reverse("newsletter:unsubscribe", args=[token]))


def preferences_url(*, subscriber: Subscriber) -> str:
    token = public_token_make(public_id=subscriber.public_id, salt=PREFERENCES_SALT)
    return absolute(reverse("newsletter:preferences", args=[token]))


def subscriber_links(*, subscription: Subscription) -> dict[str, str]:
    """Everything a footer or header needs for one recipient of one topic."""
    return {
        "unsubscribe_url": unsubscribe_url(subscription=subscription),
        "preferences_url": preferences_url(subscriber=subscription.subscriber),
    }


def list_unsubscribe_headers(*, subscription: Subscription | None = None, url: str | None = None) -> dict[str, str]:
    """RFC 2369 + RFC 8058 headers for one recipient of one topic (pass ``url`` when it is already built)."""
    return {
        "List-Unsubscribe": f"<{url or unsubscribe_url(subscription=subscription)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
