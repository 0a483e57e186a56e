"""Wagtail admin registration only: the API keys area (``api/admin/keys.py``) in Settings, its permission in
Settings > Groups, and the API's actions in the audit log."""

from django.contrib.auth.models import Permission
from django.urls import include, path
from wagtail import hooks

from .admin import keys
from .audit import API_LOG


@hooks.register("register_admin_urls")
def register_api_keys_admin_urls():
    return [path("api-keys/", include(keys.admin_patterns))]


@hooks.register("register_settings_menu_item")
def register_api_keys_menu_item():
    return keys.menu_item()


@hooks.register("register_permissions")
def register_api_keys_permission():
    return Permission.objects.filter(content_type__app_label="api", codename="manage_api_keys")


@hooks.register("register_log_actions")
def register_api_log_actions(actions):
    API_LOG.register(actions)
