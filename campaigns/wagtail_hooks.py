"""Wagtail admin registration only: the "Send test" and "Send" views, their buttons on campaign pages, the send
progress and report pages, the Campaigns, Segments and Sends menu items, the segment permission offered in Settings >
Groups, and the dashboard's recent sends."""

from django.contrib.auth.models import Permission
from django.urls import include, path, reverse, reverse_lazy
from wagtail import hooks
from wagtail.admin.ui.components import Component
from wagtail.admin.widgets.button import Button

from campaigns.admin import policy_announcement as admin_policy_announcement
from campaigns.admin import urls as admin_urls
from campaigns.audit import CAMPAIGN_LOG
from campaigns.models import CampaignPage
from campaigns.permissions import may_author, may_author_some, may_send
from campaigns.sending import selectors
from subscribers.admin.permissions import PermissionMenuItem


@hooks.register("register_admin_urls")
def register_campaign_admin_urls():
    return [path("campaigns/", include(admin_urls.admin_patterns))]


def _campaign_button(page, user, *, allowed, label: str, url_name: str, icon: str, title: str, priority: int):
    """A button in a campaign's "..." menus for users ``allowed(page, user)`` lets through (``campaigns.permissions``);
    None for other pages, which are checked first so that listings of other pages cost no permission lookups."""
    if not issubclass(page.specific_class or type(page), CampaignPage):
        return None
    if not allowed(page, user):
        return None
    return Button(label, reverse(url_name, args=[page.pk]), icon_name=icon, attrs={"title": title}, priority=priority)


def _test_send_button(page, user, *, priority: int) -> Button | None:
    return _campaign_button(
        page,
        user,
        allowed=may_author,
        label="Send test",
        url_name="campaigns_admin:test_send",
        icon="mail",
        title="Check this campaign and email a test of it",
        priority=priority,
    )


def _send_button(page, user, *, priority: int) -> Button | None:
    return _campaign_button(
        page,
        user,
        allowed=may_send,
        label="Send",
        url_name="campaigns_admin:send",
        icon="upload",
        title="Send this campaign to its subscribers, now or at a set time",
        priority=priority,
    )


@hooks.register("register_page_header_buttons")
def campaign_page_header_buttons(page, user, view_name, next_url=None):
    """In the "..." menu of the page editor's header."""
    for button in (_test_send_button(page, user, priority=12), _send_button(page, user, priority=13)):
        if button:
            yield button


@hooks.register("register_page_listing_more_buttons")
def campaign_page_listing_more_buttons(page, user, next_url=None):
    """In the "..." menu of each campaign in the explorer listing."""
    for button in (_test_send_button(page, user, priority=3), _send_button(page, user, priority=4)):
        if button:
            yield button


@hooks.register("register_admin_menu_item")
def register_campaigns_menu_item():
    return PermissionMenuItem(
        "Campaigns", reverse_lazy("campaigns_admin:explore"), icon_name="mail", order=150, shown_to=may_author_some
    )


@hooks.register("register_admin_menu_item")
def register_segments_menu_item():
    return PermissionMenuItem(
        "Segments", reverse_lazy("campaigns_admin:segments"), icon_name="group", order=152, shown_to=may_author_some
    )


@hooks.register("register_permissions")
def register_segment_permission():
    return Permission.objects.filter(content_type__app_label="campaigns", codename="manage_segments")


@hooks.register("register_admin_menu_item")
def register_sends_menu_item():
    return PermissionMenuItem(
        "Sends", reverse_lazy("campaigns_admin:sends"), icon_name="history", order=151, shown_to=may_author_some
    )


class RecentSendsPanel(Component):
    """Dashboard panel: the last sends of campaigns ``user`` may author, their state and how far they got, with
    links to progress and report."""

    name = "recent_sends"
    order = 60
    template_name = "admin_panels/recent_sends.html"

    def __init__(self, user):
        self.user = user

    def get_context_data(self, parent_context=None):
        rows = selectors.sends_recent(limit=20)
        return {"rows": [(send, progress) for send, progress in rows if may_author(send.page, self.user)][:5]}


@hooks.register("construct_homepage_panels")
def add_recent_sends_panel(request, panels):
    if may_author_some(request.user):
        panels.append(RecentSendsPanel(request.user))


@hooks.register("register_log_actions")
def register_campaign_log_actions(actions):
    CAMPAIGN_LOG.register(actions)


@hooks.register("register_privacy_policy_version_actions")
def privacy_policy_announcement_action(version, request):
    """"Announce this change by email" on a privacy policy version's admin page."""
    return admin_policy_announcement.policy_announcement_action(version, request)
