"""Wagtail admin registration only: the API's actions in the audit log (and the API keys area, ``api/admin/``)."""

from wagtail import hooks

from .audit import API_LOG


@hooks.register("register_log_actions")
def register_api_log_actions(actions):
    API_LOG.register(actions)
