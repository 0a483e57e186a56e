"""Small helpers the views share."""

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client address as Django sees it; truncated before it is stored (see addresses.ip_truncate)."""
    return request.META.get("REMOTE_ADDR")


def posted(request: HttpRequest):
    """The submitted data on POST (even when empty: a form of unticked boxes sends nothing), else None."""
    return request.POST if request.method == "POST" else None
