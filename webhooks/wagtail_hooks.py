"""Wagtail admin registration only; the area itself is ``webhooks/admin/views.py``."""

from django.contrib.auth.models import Permission
from django.urls import include, path
from wagtail import hooks

from .admin import views
from .audit import WEBHOOK_LOG


@hooks.register("register_admin_urls")
def register_webhooks_admin_urls():
    return [path("webhooks/", include((views.admin_patterns, "webhooks_admin")))]


@hooks.register("register_settings_menu_item")
def register_webhooks_menu_item():
    return views.menu_item()


@hooks.register("register_permissions")
def register_webhooks_permission():
    return Permission.objects.filter(content_type__app_label="webhooks", codename="manage_webhooks")


@hooks.register("register_log_actions")
def register_webhooks_log_actions(actions):
    WEBHOOK_LOG.register(actions)
