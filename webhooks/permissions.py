"""The one permission of this app's staff actions: managing endpoints includes reading their deliveries (which name
public ids and answers from other systems) and sending a delivery again. Checked by each action itself
(``subscribers.permissions.actor_require``), so the admin and the API are held to the same rule."""

MANAGE = "webhooks.manage_webhooks"


def user_may_manage(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(MANAGE))
