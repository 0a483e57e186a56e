"""The scopes an API key may hold, and what each grants its key's service user.

A view names the scope it needs (``required_scope``); ``HasScope`` refuses a key without it. Inside the action the
services check Django permissions as they do for staff (``subscribers.permissions.actor_require``,
``campaigns.permissions.may_send``), so each scope also grants its key's user exactly the permissions and groups
those checks ask for, and nothing else: no ``wagtailadmin.access_admin``, so a key's user never enters the admin.

A person may give a key only the scopes whose powers they hold themselves (``scope_missing_permission``), so a key
never does more than the staff member who made it could.
"""

from django.db import models

from campaigns.permissions import SEND_PERMISSION, may_author_some, may_publish_everywhere


class Scope(models.TextChoices):
    SUBSCRIBERS_READ = "subscribers:read", "Read subscribers and topics"
    SUBSCRIBERS_WRITE = "subscribers:write", "Add subscribers and change their details and topics"
    CAMPAIGNS_READ = "campaigns:read", "Read campaigns, sends and their results"
    CAMPAIGNS_SEND = "campaigns:send", "Send, schedule, pause, resume and cancel sends"
    PRIVACY_WRITE = "privacy:write", "Erase people and send them a copy of their data"
    WEBHOOKS_MANAGE = "webhooks:manage", "Manage webhook endpoints"
    AUTOMATIONS_TRIGGER = "automations:trigger", "Start automations with events"


SCOPE_NAMES = tuple(Scope.values)

# The Django permissions ("app_label.codename") each scope grants its key's user.
SCOPE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Scope.SUBSCRIBERS_READ: (
        "subscribers.view_subscriber",
        "subscribers.view_subscription",
        "subscribers.view_topic",
        "subscribers.view_attribute",
        # Every subscriber read shows the person's attribute values: a key's maker must be allowed to see them.
        "subscribers.view_attributevalue",
    ),
    Scope.SUBSCRIBERS_WRITE: (
        "subscribers.add_subscriber",
        "subscribers.change_subscriber",
        "subscribers.add_subscription",
        "subscribers.change_subscription",
        # Setting a person's attribute values (``subscriber_attributes_set``).
        "subscribers.change_attributevalue",
    ),
    Scope.CAMPAIGNS_READ: (),
    Scope.CAMPAIGNS_SEND: (),
    # Erasure (``subscriber_erase`` from staff) checks ``change_rightsrequest``.
    Scope.PRIVACY_WRITE: ("subscribers.add_rightsrequest", "subscribers.change_rightsrequest"),
    # Every webhooks service and selector checks ``manage_webhooks``.
    Scope.WEBHOOKS_MANAGE: ("webhooks.manage_webhooks",),
    # ``api_event_enter`` checks ``trigger_automations``.
    Scope.AUTOMATIONS_TRIGGER: ("automations.trigger_automations",),
}

# The groups each scope puts its key's user in. "API campaign senders" (migration api 0002) holds what ``may_send``
# asks for (``campaigns.send_campaign`` and publish permission on the page tree) without the admin access that the
# staff role "Campaign senders" also holds.
API_SENDERS_GROUP = "API campaign senders"
SCOPE_GROUPS: dict[str, tuple[str, ...]] = {Scope.CAMPAIGNS_SEND: (API_SENDERS_GROUP,)}


def scope_missing_permission(user, scope: str) -> str | None:
    """What ``user`` lacks to give a key ``scope``, in words naming the permission, or None when they may give it.

    Every permission the scope grants the key's user; for ``campaigns:send`` also the send permission and the right
    to publish on the whole page tree (the key's group publishes from the root); for ``campaigns:read``, which grants
    no permission but reads every campaign and its results, the right to author campaigns somewhere (who sees the
    admin's Campaigns and Sends). ``user`` None is the platform (an operator at the shell), which may give any scope;
    a superuser holds everything.
    """
    if user is None:
        return None
    for label in SCOPE_PERMISSIONS.get(scope, ()):
        if not user.has_perm(label):
            return f"the permission {label}"
    if scope == Scope.CAMPAIGNS_READ and not may_author_some(user):
        return "the right to edit or publish campaign pages"
    if scope == Scope.CAMPAIGNS_SEND:
        if not user.has_perm(SEND_PERMISSION):
            return f"the permission {SEND_PERMISSION}"
        if not may_publish_everywhere(user):
            return "the right to publish pages on the whole page tree"
    return None


def scopes_parse(value) -> list[str]:
    """The scopes named in ``value`` (a comma-separated string or a list), in the table's order, without repeats.

    Raises ValueError naming every unknown scope and the valid ones.
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [name.strip() for name in names if name and name.strip()]
    unknown = [name for name in names if name not in SCOPE_NAMES]
    if unknown:
        raise ValueError(
            f"Unknown scope{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            f"The scopes are: {', '.join(SCOPE_NAMES)}."
        )
    if not names:
        raise ValueError(f"Give at least one scope. The scopes are: {', '.join(SCOPE_NAMES)}.")
    return [scope for scope in SCOPE_NAMES if scope in names]
