"""Wagtail admin registration only: the Automations pages and menu item, and the permissions offered in Settings >
Groups (the audit log's action types are registered by the app when it starts)."""

from django.contrib.auth.models import Permission
from django.urls import include, path, reverse_lazy
from wagtail import hooks

from automations.admin import urls as admin_urls
from automations.admin.access import may_view_automations
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
