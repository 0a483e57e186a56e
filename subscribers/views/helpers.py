"""Small helpers the views share."""

from django.http import HttpRequest

from ..addresses import email_normalise


def client_ip(request: HttpRequest) -> str | None:
    """The client address as Django sees it; truncated before it is stored (see addresses.ip_truncate)."""
    return request.META.get("REMOTE_ADDR")


def posted(request: HttpRequest):
    """The submitted data on POST (even when empty: a form of unticked boxes sends nothing), else None."""
    return request.POST if request.method == "POST" else None


def posted_address(request: HttpRequest, field: str = "email") -> str:
    """The address a form was posted with, as rate limits key it (normalised, at most 254 characters)."""
    return email_normalise(request.POST.get(field, ""))[:254]
