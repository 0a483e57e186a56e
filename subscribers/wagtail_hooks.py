"""Wagtail admin registration only. What is registered is built in ``subscribers/admin/``, one module per area:
the Subscribers menu and its dashboard panel, privacy requests, disclosures, privacy policy versions, CSV imports."""

from django.urls import include, path
from wagtail import hooks

from .admin import attributes, disclosures, imports, permissions, policies, rights, subscribers
from .audit import POLICY_PUBLISH, SUBSCRIBER_LOG

# Here, at import, before anything asks Wagtail for a policy (it would fall back to plain model permissions).
permissions.register_permission_policies()


# Subscribers: the read-only ledger, topics, policy versions; subscribers per topic and each topic's CSV.
@hooks.register("register_admin_viewset")
def register_subscribers_viewsets():
    return subscribers.SubscribersGroup()


@hooks.register("construct_homepage_panels")
def add_topic_counts_panel(request, panels):
    panels.extend(subscribers.dashboard_panels(request.user))


@hooks.register("register_admin_urls")
def register_topic_export_urls():
    return subscribers.admin_patterns


# A subscriber's attribute values (Subscribers > Attributes is in the group above).
@hooks.register("register_admin_urls")
def register_subscriber_attributes_urls():
    return attributes.admin_patterns


# Privacy requests: requests from people to exercise their data-protection rights, with their deadlines.
@hooks.register("register_admin_urls")
def register_rights_admin_urls():
    return [path("privacy-requests/", include(rights.admin_patterns))]


@hooks.register("register_admin_menu_item")
def register_rights_requests_menu_item():
    return rights.menu_item()


@hooks.register("construct_homepage_panels")
def add_rights_requests_panel(request, panels):
    panels.extend(rights.dashboard_panels(request.user))


# Disclosures: partners, the partner export, and the log of every disclosure.
@hooks.register("register_admin_viewset")
def register_disclosures_viewsets():
    return disclosures.DisclosuresGroup()


@hooks.register("register_admin_urls")
def register_disclosures_admin_urls():
    return [path("disclosures/", include(disclosures.admin_patterns))]


@hooks.register("register_disclosures_menu_item")
def register_disclosure_log_menu_item():
    return disclosures.log_menu_item()


@hooks.register("register_disclosures_menu_item")
def register_partner_export_menu_item():
    return disclosures.export_menu_item()


@hooks.register("register_permissions")
def register_disclosure_permissions():
    return disclosures.group_permissions()


# Staff actions in the audit log; publishing a policy version with its own formatter.
@hooks.register("register_log_actions")
def register_subscriber_log_actions(actions):
    SUBSCRIBER_LOG.register(actions, except_for=(POLICY_PUBLISH,))
    actions.register_action(POLICY_PUBLISH)(policies.PolicyPublishLogFormatter)


# Importing subscribers from a CSV file.
@hooks.register("register_admin_urls")
def register_imports_admin_urls():
    return [path("subscriber-imports/", include(imports.admin_patterns))]


@hooks.register("register_admin_menu_item")
def register_import_menu_item():
    return imports.menu_item()


@hooks.register("register_permissions")
def register_import_permission():
    return imports.group_permissions()
