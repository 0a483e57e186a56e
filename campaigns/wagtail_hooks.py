"""Wagtail admin registration only: the "Send test" view, its buttons on campaign pages, the Campaigns menu item."""

from django.urls import include, path, reverse, reverse_lazy
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.admin.widgets.button import Button

from . import admin_views
from .models import CampaignPage

admin_patterns = (
    [
        path("", admin_views.campaigns_explore, name="explore"),
        path("<int:page_id>/send-test/", admin_views.CampaignTestSendView.as_view(), name="test_send"),
    ],
    "campaigns_admin",
)


@hooks.register("register_admin_urls")
def register_campaign_admin_urls():
    return [path("campaigns/", include(admin_patterns))]


def _test_send_button(page, user, *, priority: int) -> Button | None:
    if not issubclass(page.specific_class or type(page), CampaignPage):
        return None
    if not page.permissions_for_user(user).can_edit():
        return None
    return Button(
        "Send test",
        reverse("campaigns_admin:test_send", args=[page.pk]),
        icon_name="mail",
        attrs={"title": "Check this campaign and email a test of it"},
        priority=priority,
    )


@hooks.register("register_page_header_buttons")
def campaign_page_header_buttons(page, user, view_name, next_url=None):
    """In the "..." menu of the page editor's header."""
    button = _test_send_button(page, user, priority=12)
    if button:
        yield button


@hooks.register("register_page_listing_more_buttons")
def campaign_page_listing_more_buttons(page, user, next_url=None):
    """In the "..." menu of each campaign in the explorer listing."""
    button = _test_send_button(page, user, priority=3)
    if button:
        yield button


@hooks.register("register_admin_menu_item")
def register_campaigns_menu_item():
    return MenuItem("Campaigns", reverse_lazy("campaigns_admin:explore"), icon_name="mail", order=150)
