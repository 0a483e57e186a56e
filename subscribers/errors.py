"""The one base of every error the subscribers app raises on purpose: a refused change, a token not believed, a
file that cannot be imported. The services' own kinds are in ``services/errors.py``; callers (views, the admin,
tasks) catch ``SubscribersError`` or one of them, never a bare ``Exception``."""

from django.core.exceptions import PermissionDenied


class SubscribersError(Exception):
    """A change was refused or input was not believed; the message and the subclass say why."""


class ActionForbidden(SubscribersError, PermissionDenied):
    """The person acting lacks the permission the action needs; nothing was changed. Being a ``PermissionDenied``
    too, a view that lets it through answers 403."""
