"""Who may do what in this app's admin: the permission policies, the permissions offered in Settings > Groups,
and the menu item shown only to those a check lets through.

Consent can only be given by the person it belongs to, so the ledger, subscriptions and suppressions are
read-only for everyone in the admin, superusers included; state changes go through services.
"""

from collections.abc import Callable

from django.contrib.auth.models import Permission
from wagtail.admin.menu import MenuItem
from wagtail.permission_policies import ModelPermissionPolicy
from wagtail.permissions import register_permission_policy

from ..models import (
    ConsentEvent,
    Disclosure,
    Partner,
    PrivacyPolicyVersion,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
)

WRITE_ACTIONS = frozenset({"add", "change", "delete", "lock", "unlock", "publish"})


class RestrictedPermissionPolicy(ModelPermissionPolicy):
    """Django's model permissions, minus the actions in ``refused`` (which nobody may take)."""

    def __init__(self, model, *, refused=WRITE_ACTIONS, **kwargs):
        super().__init__(model, **kwargs)
        self.refused = frozenset(refused)

    def user_has_permission(self, user, action):
        if action in self.refused:
            return False
        return super().user_has_permission(user, action)

    def user_has_any_permission(self, user, actions):
        return any(self.user_has_permission(user, action) for action in actions)


def register_permission_policies() -> None:
    """Called once, as ``wagtail_hooks.py`` is imported: before any view asks Wagtail for a model's policy."""
    for model in (ConsentEvent, Subscription, Subscriber, Suppression):
        register_permission_policy(model, RestrictedPermissionPolicy(model))
    # Published policy text is evidence: a new version is added, an old one is never edited or removed.
    register_permission_policy(
        PrivacyPolicyVersion, RestrictedPermissionPolicy(PrivacyPolicyVersion, refused={"change", "delete"})
    )
    # Topics are retired by unticking "active"; deleting one would orphan its consent history.
    register_permission_policy(Topic, RestrictedPermissionPolicy(Topic, refused={"delete"}))
    # A partner that data was shared with stays on record: it is retired by unticking "active", never deleted.
    register_permission_policy(Partner, RestrictedPermissionPolicy(Partner, refused={"delete"}))
    # The disclosure log is evidence: nobody may change or delete an entry, superusers included.
    register_permission_policy(Disclosure, RestrictedPermissionPolicy(Disclosure))


def offered_permissions(*codenames: str):
    """This app's permissions ``codenames``, for a ``register_permissions`` hook (offered in Settings > Groups)."""
    return Permission.objects.filter(content_type__app_label="subscribers", codename__in=codenames)


class PermissionMenuItem(MenuItem):
    """A menu item shown only to the users for whom ``shown_to(user)`` is true."""

    def __init__(self, *args, shown_to: Callable[..., bool], **kwargs):
        super().__init__(*args, **kwargs)
        self.shown_to = shown_to

    def is_shown(self, request):
        return self.shown_to(request.user)
