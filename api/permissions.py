"""Scope checks: a view names the scope it needs, per action or for all of them."""

from rest_framework import exceptions, permissions

from .models import ApiKey


class HasScope(permissions.BasePermission):
    """The key must hold the view's scope: ``required_scope`` (one for every method), or ``required_scopes``, a
    mapping from the viewset action or the HTTP method to its scope. A view without one is refused to everyone."""

    def has_permission(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            raise exceptions.NotAuthenticated()
        scope = required_scope(view, request)
        if scope is None:
            raise exceptions.PermissionDenied("This endpoint names no scope, so no key may call it.")
        if scope not in api_key.scopes:
            raise exceptions.PermissionDenied(f"This API key lacks the scope {scope}, which this request needs.")
        return True


def required_scope(view, request) -> str | None:
    scopes = getattr(view, "required_scopes", None) or {}
    action = getattr(view, "action", None)
    if action and action in scopes:
        return scopes[action]
    if request.method in scopes:
        return scopes[request.method]
    return getattr(view, "required_scope", None)
