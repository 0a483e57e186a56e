"""Who may take this app's staff actions: the permission each one needs, in one place.

The action checks it itself (``actor_require``), so every way in (the admin, a management command, the API to
come) is held to the same rule; the admin asks the same question to hide what someone may not do. ``user`` None
is the platform acting by itself (a scheduled job, a seed), which needs no permission and is logged nowhere.
The roles that bundle these permissions are Wagtail groups, made by a data migration (``docs/roles.md``).
"""

from .errors import ActionForbidden

IMPORT = "subscribers.import_subscribers"
PARTNER_EXPORT = "subscribers.export_to_partner"
BUSINESS_TRANSFER_EXPORT = "subscribers.export_business_transfer"
DISCLOSURE_VIEW = "subscribers.view_disclosure"
RIGHTS_REQUEST_ADD = "subscribers.add_rightsrequest"
# Handling privacy requests, including erasing the person a request is about.
RIGHTS_REQUEST_CHANGE = "subscribers.change_rightsrequest"
POLICY_PUBLISH = "subscribers.add_privacypolicyversion"
# Adding people and their subscriptions on someone's behalf (an API key, staff): double opt-in or evidence.
SUBSCRIPTION_ADD = "subscribers.add_subscription"
# Correcting a person's details; changing their subscriptions or recording their objection to sharing.
SUBSCRIBER_CHANGE = "subscribers.change_subscriber"
SUBSCRIPTION_CHANGE = "subscribers.change_subscription"
# Declaring what is recorded about people, and setting a person's values.
ATTRIBUTE_VIEW = "subscribers.view_attribute"
ATTRIBUTE_ADD = "subscribers.add_attribute"
ATTRIBUTE_CHANGE = "subscribers.change_attribute"
ATTRIBUTE_DELETE = "subscribers.delete_attribute"
ATTRIBUTE_VALUES_CHANGE = "subscribers.change_attributevalue"
ATTRIBUTE_VALUES_VIEW = "subscribers.view_attributevalue"


def actor_require(user, permission: str, *, action: str) -> None:
    """Refuse with ``ActionForbidden`` unless ``user`` (None: the platform itself) holds ``permission``."""
    if user is not None and not user.has_perm(permission):
        raise ActionForbidden(f"You may not {action}: it needs the permission {permission}, which your roles lack.")
