"""Staff in each role see what they may do and nothing else: a campaign editor's actions menu offers a test but
not a send and the privacy menus are absent; a campaign sender's offers both; a privacy officer has the privacy
menus and no campaign menus or sends."""

import pytest
from playwright.sync_api import expect

from campaigns.authoring.demo_content import campaign_index, demo_campaign
from subscribers.models import User
from tests.browser.conftest import STAFF_PASSWORD, admin_login
from tests.factories import EDITORS, PRIVACY_OFFICERS, SENDERS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def member(role: str, email: str, first_name: str) -> User:
    from django.contrib.auth.models import Group

    user = User.objects.create_user(email=email, password=STAFF_PASSWORD, first_name=first_name, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def actions_menu(page, campaign):
    page.goto(f"/admin/pages/{campaign.pk}/edit/")
    # The header's menu (the image blocks have "Actions" menus of their own)
    page.get_by_role("navigation", name="Actions", exact=True).get_by_role("button", name="Actions").click()
    # The menu fades in: wait until it is fully shown, so that a screenshot catches it whole
    page.wait_for_function(
        "() => [...document.querySelectorAll('.tippy-box')].some(b => getComputedStyle(b).opacity === '1')"
    )
    return page


def test_each_role_is_shown_what_it_may_do(page, site_url, settings, tmp_path, screenshot):
    settings.MEDIA_ROOT = tmp_path
    campaign_index()
    campaign = demo_campaign()

    # A campaign editor: "Send test" in the actions menu, no "Send", no privacy menus
    member(EDITORS, "writer@larkspur-lune.example", "Wren")
    admin_login(page, site_url, "writer@larkspur-lune.example")
    sidebar = page.locator("#wagtail-sidebar")
    expect(sidebar.get_by_role("link", name="Campaigns")).to_be_visible()
    expect(sidebar.get_by_text("Privacy requests")).to_have_count(0)
    expect(sidebar.get_by_text("Import subscribers")).to_have_count(0)
    actions_menu(page, campaign)
    expect(page.get_by_role("link", name="Send test")).to_be_visible()
    expect(page.get_by_role("link", name="Send", exact=True)).to_have_count(0)
    screenshot(page, "80-roles-editor-actions-menu")
    page.goto(f"/admin/campaigns/{campaign.pk}/send/")
    expect(page).to_have_url(f"{site_url}/admin/")
    expect(page.get_by_text("Sorry, you do not have permission to access this area.")).to_be_visible()
    page.context.clear_cookies()

    # A campaign sender: both
    member(SENDERS, "sender@larkspur-lune.example", "Sid")
    admin_login(page, site_url, "sender@larkspur-lune.example")
    actions_menu(page, campaign)
    expect(page.get_by_role("link", name="Send test")).to_be_visible()
    expect(page.get_by_role("link", name="Send", exact=True)).to_be_visible()
    screenshot(page, "81-roles-sender-actions-menu")
    page.context.clear_cookies()

    # A privacy officer: the privacy menus, and the campaign is not theirs to edit
    member(PRIVACY_OFFICERS, "officer@larkspur-lune.example", "Olu")
    admin_login(page, site_url, "officer@larkspur-lune.example")
    sidebar = page.locator("#wagtail-sidebar")
    expect(sidebar.get_by_role("link", name="Privacy requests")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Import subscribers")).to_be_visible()
    expect(sidebar.get_by_role("button", name="Disclosures")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Campaigns")).to_have_count(0)
    expect(page.get_by_role("heading", name="Recent sends")).to_have_count(0)
    screenshot(page, "82-roles-privacy-officer-dashboard")
    page.goto(f"/admin/pages/{campaign.pk}/edit/")
    expect(page).to_have_url(f"{site_url}/admin/")
