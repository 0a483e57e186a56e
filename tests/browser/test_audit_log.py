"""A manager reads who paused and cancelled a send in the admin's site history, filtered by action."""

import pytest
from playwright.sync_api import expect

from campaigns.authoring.demo_content import campaign_index, demo_campaign
from campaigns.models import Send, SendState
from campaigns.sending.services import send_cancel, send_create, send_pause
from subscribers.models import User

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_site_history_shows_who_paused_a_send_and_filters_by_action(admin_page, settings, tmp_path, screenshot):
    # Given a send that a staff member paused and then cancelled
    settings.MEDIA_ROOT = tmp_path
    campaign_index()
    send = send_create(page=demo_campaign())
    Send.objects.filter(pk=send.pk).update(state=SendState.SENDING)
    staff = User.objects.get(is_superuser=True)
    for action in (send_pause, send_cancel):
        action(send=send, user=staff)

    # When the site history is filtered to pauses
    page = admin_page
    page.goto("/admin/reports/site-history/?action=campaigns.send_pause")

    # Then the one pause is listed, with the person who did it, and nothing else
    expect(page.get_by_text("There is 1 match")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Paused the send")
    expect(row).to_contain_text(f"Send {send.pk} of {send.page.title}")
    expect(row).to_contain_text(staff.first_name)
    expect(page.get_by_text("Cancelled the send")).to_have_count(0)
    screenshot(page, "70-site-history-send-pause", reload=True)

    # And without the filter, the cancel is there too
    page.goto("/admin/reports/site-history/")
    expect(page.get_by_role("row").filter(has_text="Cancelled the send")).to_contain_text(staff.first_name)
