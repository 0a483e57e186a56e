"""Permission policies for the Wagtail admin.

Consent can only be given by the person it belongs to, so the ledger, subscriptions and suppressions are
read-only for everyone in the admin, superusers included; state changes go through services.
"""

from wagtail.permission_policies import ModelPermissionPolicy

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
