"""Wagtail admin registration only: menus, read-only views of the ledger, and the dashboard panel."""

from wagtail import hooks
from wagtail.admin.ui.components import Component
from wagtail.admin.viewsets.model import ModelViewSet, ModelViewSetGroup
from wagtail.permissions import register_permission_policy

from .admin.permissions import RestrictedPermissionPolicy
from .admin.policies import PolicyPublishLogFormatter, PrivacyPolicyVersionViewSet
from .models import ConsentEvent, PrivacyPolicyVersion, Subscriber, Subscription, Suppression, Topic
from .selectors import topic_subscription_counts

register_permission_policy(ConsentEvent, RestrictedPermissionPolicy(ConsentEvent))
register_permission_policy(Subscription, RestrictedPermissionPolicy(Subscription))
register_permission_policy(Subscriber, RestrictedPermissionPolicy(Subscriber))
register_permission_policy(Suppression, RestrictedPermissionPolicy(Suppression))
# Published policy text is evidence: a new version is added, an old one is never edited or removed.
register_permission_policy(
    PrivacyPolicyVersion, RestrictedPermissionPolicy(PrivacyPolicyVersion, refused={"change", "delete"})
)
# Topics are retired by unticking "active"; deleting one would orphan its consent history.
register_permission_policy(Topic, RestrictedPermissionPolicy(Topic, refused={"delete"}))


class TopicViewSet(ModelViewSet):
    model = Topic
    icon = "list-ul"
    menu_label = "Topics"
    form_fields = ["name", "slug", "description", "is_active", "position"]
    list_display = ["name", "slug", "is_default", "is_active"]
    copy_view_enabled = False


class SubscriberViewSet(ModelViewSet):
    model = Subscriber
    icon = "user"
    menu_label = "Subscribers"
    form_fields = ["first_name"]
    list_display = ["email", "first_name", "email_confirmed_at", "created_at"]
    search_fields = ["email", "first_name"]
    inspect_view_enabled = True
    inspect_view_fields = ["email", "first_name", "user", "email_confirmed_at", "created_at"]
    copy_view_enabled = False


class SubscriptionViewSet(ModelViewSet):
    model = Subscription
    icon = "tick"
    menu_label = "Subscriptions"
    form_fields = ["status"]
    list_display = ["subscriber", "topic", "status", "lawful_basis", "confirmed_at"]
    list_filter = ["topic", "status", "lawful_basis"]
    search_fields = ["subscriber__email"]
    inspect_view_enabled = True
    copy_view_enabled = False


class ConsentEventViewSet(ModelViewSet):
    model = ConsentEvent
    icon = "history"
    menu_label = "Consent history"
    form_fields = ["detail"]
    list_display = ["occurred_at", "subscriber", "purpose", "action", "topic", "source", "policy_version"]
    list_filter = ["purpose", "action", "source", "topic"]
    search_fields = ["subscriber__email"]
    inspect_view_enabled = True
    copy_view_enabled = False


class SuppressionViewSet(ModelViewSet):
    model = Suppression
    icon = "warning"
    menu_label = "Suppression list"
    form_fields = ["reason"]
    list_display = ["address_hmac", "scope", "reason", "created_at"]
    list_filter = ["scope", "reason"]
    copy_view_enabled = False


class SubscribersGroup(ModelViewSetGroup):
    menu_label = "Subscribers"
    menu_icon = "group"
    menu_order = 200
    items = (
        SubscriberViewSet,
        SubscriptionViewSet,
        TopicViewSet,
        ConsentEventViewSet,
        SuppressionViewSet,
        PrivacyPolicyVersionViewSet,
    )


@hooks.register("register_admin_viewset")
def register_subscribers_viewsets():
    return SubscribersGroup()


class TopicCountsPanel(Component):
    """Dashboard panel: active and pending subscriptions per topic."""

    name = "topic_counts"
    order = 50
    template_name = "admin_panels/topic_counts.html"

    def get_context_data(self, parent_context=None):
        return {"topics": topic_subscription_counts()}


@hooks.register("construct_homepage_panels")
def add_topic_counts_panel(request, panels):
    if request.user.has_perm("subscribers.view_subscription"):
        panels.append(TopicCountsPanel())


# Privacy requests: requests from people to exercise their data-protection rights, with their deadlines -------------

from django.urls import include, path, reverse_lazy  # noqa: E402  (appended section; the code above is unchanged)
from wagtail.admin.menu import MenuItem  # noqa: E402

from . import selectors  # noqa: E402
from .admin import rights as admin_rights  # noqa: E402

rights_admin_patterns = (
    [
        path("", admin_rights.RightsRequestIndexView.as_view(), name="index"),
        path("closed/", admin_rights.RightsRequestClosedView.as_view(), name="closed"),
        path("record/", admin_rights.RightsRequestRecordView.as_view(), name="record"),
        path("<int:request_id>/", admin_rights.RightsRequestDetailView.as_view(), name="detail"),
        path("<int:request_id>/close/", admin_rights.rights_request_close_view, name="close"),
        path("<int:request_id>/erase/", admin_rights.RightsRequestEraseConfirmView.as_view(), name="erase_confirm"),
        path("<int:request_id>/erase/confirmed/", admin_rights.rights_request_erase_view, name="erase"),
        path("<int:request_id>/export/", admin_rights.rights_request_export_view, name="export"),
        path("<int:request_id>/objection/", admin_rights.rights_request_objection_view, name="objection"),
    ],
    "rights_admin",
)


@hooks.register("register_admin_urls")
def register_rights_admin_urls():
    return [path("privacy-requests/", include(rights_admin_patterns))]


class RightsRequestsMenuItem(MenuItem):
    """Shown only to those who may see the requests."""

    def is_shown(self, request):
        return admin_rights.user_may(request.user, "view")


@hooks.register("register_admin_menu_item")
def register_rights_requests_menu_item():
    return RightsRequestsMenuItem(
        "Privacy requests", reverse_lazy("rights_admin:index"), name="privacy-requests", icon_name="lock", order=210
    )


class RightsRequestsPanel(Component):
    """Dashboard panel: open privacy requests, those due soon and those overdue, linking to the list."""

    name = "rights_requests"
    order = 40
    template_name = "subscribers/admin/rights/panel.html"

    def get_context_data(self, parent_context=None):
        return {"counts": selectors.rights_request_counts(), "due_soon_days": selectors.RIGHTS_REQUEST_DUE_SOON_DAYS}


@hooks.register("construct_homepage_panels")
def add_rights_requests_panel(request, panels):
    if admin_rights.user_may(request.user, "view"):
        panels.append(RightsRequestsPanel())


# The marketing team's CSV of a topic's subscribers ---------------------------------------------------------------

from .admin import subscribers as admin_exports  # noqa: E402


@hooks.register("register_admin_urls")
def register_topic_export_urls():
    return [
        path(
            "topic-exports/<int:topic_id>/subscribers.csv",
            admin_exports.topic_subscribers_csv,
            name="topic_subscribers_csv",
        )
    ]


# Disclosures: partners, the partner export, and the log of every disclosure ---------------------------------------

from wagtail.admin.viewsets.base import ViewSetGroup  # noqa: E402

from .admin import disclosures as admin_disclosures  # noqa: E402
from .models import Disclosure, Partner  # noqa: E402

# A partner that data was shared with stays on record: it is retired by unticking "active", never deleted.
register_permission_policy(Partner, RestrictedPermissionPolicy(Partner, refused={"delete"}))
# The log is evidence: nobody may change or delete an entry, superusers included.
register_permission_policy(Disclosure, RestrictedPermissionPolicy(Disclosure))


class PartnerViewSet(ModelViewSet):
    model = Partner
    name = "partners"
    icon = "site"
    menu_label = "Partners"
    menu_order = 3
    form_fields = ["name", "purpose", "contract_reference", "is_active"]
    list_display = ["name", "purpose", "contract_reference", "is_active", "created_at"]
    list_filter = ["is_active"]
    copy_view_enabled = False


class DisclosuresGroup(ViewSetGroup):
    menu_label = "Disclosures"
    menu_icon = "upload"
    menu_order = 215
    items = (PartnerViewSet,)
    submenu_hook = "register_disclosures_menu_item"


@hooks.register("register_admin_viewset")
def register_disclosures_viewsets():
    return DisclosuresGroup()


disclosures_admin_patterns = (
    [
        path("", admin_disclosures.DisclosureIndexView.as_view(), name="index"),
        path("<int:disclosure_id>/", admin_disclosures.DisclosureDetailView.as_view(), name="detail"),
        path("partner-export/", admin_disclosures.PartnerExportChooseView.as_view(), name="export"),
        path("partner-export/confirm/", admin_disclosures.PartnerExportConfirmView.as_view(), name="confirm"),
    ],
    "disclosures_admin",
)


@hooks.register("register_admin_urls")
def register_disclosures_admin_urls():
    return [path("disclosures/", include(disclosures_admin_patterns))]


class _DisclosureMenuItem(MenuItem):
    def __init__(self, *args, shown_to, **kwargs):
        super().__init__(*args, **kwargs)
        self.shown_to = shown_to

    def is_shown(self, request):
        return self.shown_to(request.user)


@hooks.register("register_disclosures_menu_item")
def register_disclosure_log_menu_item():
    return _DisclosureMenuItem(
        "Disclosure log",
        reverse_lazy("disclosures_admin:index"),
        name="disclosure-log",
        icon_name="list-ul",
        order=1,
        shown_to=admin_disclosures.user_may_view,
    )


@hooks.register("register_disclosures_menu_item")
def register_partner_export_menu_item():
    return _DisclosureMenuItem(
        "New partner export",
        reverse_lazy("disclosures_admin:export"),
        name="partner-export",
        icon_name="download",
        order=2,
        shown_to=admin_disclosures.user_may_export,
    )


@hooks.register("register_permissions")
def register_disclosure_permissions():
    """Offer the disclosure permissions (read the log; export to a partner) in Settings > Groups."""
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(
        content_type__app_label="subscribers", codename__in=["view_disclosure", "export_to_partner"]
    )


# Privacy policy versions: publishing is recorded in the audit log -------------------------------------------------

from .services.policies import POLICY_PUBLISH_LOG_ACTION  # noqa: E402


@hooks.register("register_log_actions")
def register_policy_log_actions(actions):
    actions.register_action(POLICY_PUBLISH_LOG_ACTION)(PolicyPublishLogFormatter)


# Importing subscribers from a CSV file ----------------------------------------------------------------------------

from .admin import imports as admin_imports  # noqa: E402

imports_admin_patterns = (
    [
        path("", admin_imports.ImportIndexView.as_view(), name="index"),
        path("<int:import_id>/", admin_imports.ImportDetailView.as_view(), name="detail"),
        path("<int:import_id>/columns/", admin_imports.ImportMappingView.as_view(), name="mapping"),
        path("<int:import_id>/import/", admin_imports.import_start_view, name="start"),
        path("<int:import_id>/progress.json", admin_imports.import_progress_json, name="progress"),
        path("<int:import_id>/errors.csv", admin_imports.import_errors_csv, name="errors_csv"),
    ],
    "imports_admin",
)


@hooks.register("register_admin_urls")
def register_imports_admin_urls():
    return [path("subscriber-imports/", include(imports_admin_patterns))]


class ImportMenuItem(MenuItem):
    """Shown only to those who may import (the permission ``subscribers.import_subscribers``)."""

    def is_shown(self, request):
        return admin_imports.user_may_import(request.user)


@hooks.register("register_admin_menu_item")
def register_import_menu_item():
    return ImportMenuItem(
        "Import subscribers",
        reverse_lazy("imports_admin:index"),
        name="import-subscribers",
        icon_name="upload",
        order=205,
    )


@hooks.register("register_permissions")
def register_import_permission():
    """Offer "Can import subscribers from a CSV file" in Settings > Groups."""
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(content_type__app_label="subscribers", codename="import_subscribers")
