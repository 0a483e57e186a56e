"""The one base of every error campaigns raise on purpose, so that a caller (an admin view, the API, a task) can
catch what campaigns refuse without catching programming errors. Each job's module subclasses it with what went
wrong: a send in the wrong state, a forged SNS message, an unknown tracked link."""

from django.core.exceptions import PermissionDenied


class CampaignError(Exception):
    """A campaign action was refused, or input about campaigns was not believed; the message says why."""


class CampaignForbidden(CampaignError, PermissionDenied):
    """The person acting may not do this to this campaign; nothing was changed. Being a ``PermissionDenied`` too,
    a view that lets it through answers 403."""
