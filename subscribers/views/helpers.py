"""Small helpers the views share."""

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client address as Django sees it; truncated before it is stored (see addresses.ip_truncate)."""
    return request.META.get("REMOTE_ADDR")
