"""The one base of every error the subscribers app raises on purpose: a refused change, a token not believed, a
file that cannot be imported. The services' own kinds are in ``services/errors.py``; callers (views, the admin,
tasks) catch ``SubscribersError`` or one of them, never a bare ``Exception``."""

from django.core.exceptions import PermissionDenied


class SubscribersError(Exception):
    """A change was refused or input was not believed; the message and the subclass say why."""


class FormFieldError(SubscribersError, ValueError):
    """A refusal a form can show beside its cause: ``field`` names the form field the problem belongs to, when
    there is one; the message says why."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class ActionForbidden(SubscribersError, PermissionDenied):
    """The person acting lacks the permission the action needs; nothing was changed. Being a ``PermissionDenied``
    too, a view that lets it through answers 403."""
