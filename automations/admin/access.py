"""Who may read and who may change automations in the admin, in one place.

- **Read** (the list, an automation's page with its counts and aggregate results): ``automations.view_automation``
  or ``automations.manage_automations``.
- **Change** (add, change its trigger and steps, activate, pause, resume): ``automations.manage_automations``.

Every admin view asks before it calls a service, for GET and POST alike, so a forged request changes nothing.
"""

VIEW_PERMISSION = "automations.view_automation"
MANAGE_PERMISSION = "automations.manage_automations"


def may_manage_automations(user) -> bool:
    return user.has_perm(MANAGE_PERMISSION)


def may_view_automations(user) -> bool:
    """Who is shown the Automations menu item and may read the pages under it."""
    return user.has_perm(VIEW_PERMISSION) or may_manage_automations(user)
