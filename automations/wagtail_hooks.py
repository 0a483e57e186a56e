"""Wagtail admin registration only: the Automations pages and menu item, the permissions offered in Settings > Groups,
and the audit log's action type of the admin's own action (moving a step; the services' are registered by the app)."""

from django.contrib.auth.models import Permission
from django.urls import include, path, reverse_lazy
from wagtail import hooks

from automations.admin import urls as admin_urls
from automations.admin.access import may_view_automations
from automations.admin_actions import AUTOMATION_ADMIN_LOG
from subscribers.admin.permissions import PermissionMenuItem


@hooks.register("register_admin_urls")
def register_automation_admin_urls():
    return [path("automations/", include(admin_urls.admin_patterns))]


@hooks.register("register_admin_menu_item")
def register_automations_menu_item():
    return PermissionMenuItem(
        "Automations",
        reverse_lazy("automations_admin:index"),
        icon_name="tasks",
        order=153,
        shown_to=may_view_automations,
    )


@hooks.register("register_permissions")
def register_automation_permissions():
    return Permission.objects.filter(
        content_type__app_label="automations", codename__in=("manage_automations", "view_automation")
    )


@hooks.register("register_log_actions")
def register_automation_log_actions(actions):
    AUTOMATION_ADMIN_LOG.register(actions)
