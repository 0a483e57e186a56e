"""The campaign roles, as the data migration makes them: what each may do to a campaign, what each is shown, and
that the actions themselves refuse whoever may not take them, changing nothing."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry, PageLogEntry

from campaigns.authoring.test_send import campaign_test_send
from campaigns.errors import CampaignForbidden
from campaigns.models import Send, SendEvent, SendState
from campaigns.sending.in_doubt import deliveries_unconfirmed_resend
from campaigns.sending.services import send_cancel, send_create, send_now, send_pause, send_resume, send_schedule
from tests.campaigns.admin.test_admin_send import post_send_now, seen_send_id
from tests.factories import EDITORS, PRIVACY_OFFICERS, SENDERS, UserFactory, staff_in_role

pytestmark = pytest.mark.django_db

HOME = reverse("wagtailadmin_home")


def edit_page(client, campaign) -> str:
    return client.get(reverse("wagtailadmin_pages:edit", args=[campaign.pk])).content.decode()


def send_url(campaign) -> str:
    return reverse("campaigns_admin:send", args=[campaign.pk])


def test_the_migration_makes_the_three_roles_with_their_permissions():
    editors, senders = Group.objects.get(name=EDITORS), Group.objects.get(name=SENDERS)
    officers = Group.objects.get(name=PRIVACY_OFFICERS)

    def codenames(group):
        return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}

    def page_codenames(group):
        return {p.permission.codename for p in group.page_permissions.filter(page__depth=1)}

    assert codenames(editors) == {
        "wagtailadmin.access_admin", "campaigns.manage_segments", "automations.view_automation"
    }
    assert page_codenames(editors) == {"add_page", "change_page"}
    assert codenames(senders) == {
        "wagtailadmin.access_admin",
        "campaigns.send_campaign",
        "campaigns.manage_segments",
        "automations.manage_automations",
        "automations.view_automation",
    }
    assert page_codenames(senders) == {"add_page", "change_page", "publish_page"}
    assert {"subscribers.import_subscribers", "subscribers.export_to_partner", "subscribers.change_rightsrequest",
            "subscribers.add_privacypolicyversion", "subscribers.view_disclosure"} <= codenames(officers)
    assert not page_codenames(officers) and "campaigns.send_campaign" not in codenames(officers)
    assert "campaigns.manage_segments" not in codenames(officers)


def test_a_campaign_editor_authors_and_tests_but_is_neither_shown_nor_allowed_sending(client, campaign, audience):
    editor = staff_in_role(EDITORS, "writer@larkspur-lune.example")
    client.force_login(editor)

    # The editor's "..." menu offers a test, not a send
    page = edit_page(client, campaign)
    assert reverse("campaigns_admin:test_send", args=[campaign.pk]) in page
    assert send_url(campaign) not in page

    # A test goes out, in the editor's name
    response = client.post(reverse("campaigns_admin:test_send", args=[campaign.pk]), {"addresses": "me@example.com"})
    assert response.status_code == 302
    assert PageLogEntry.objects.get(action="campaigns.test_send").user_id == editor.pk

    # The Send page is refused, and so is the action itself, whatever way it is called
    assert client.get(send_url(campaign))["Location"] == HOME
    with pytest.raises(CampaignForbidden, match="You may not send"):
        send_now(page=campaign, user=editor)
    assert not Send.objects.exists()


def test_a_campaign_sender_is_shown_send_and_sends_schedules_pauses_resumes_and_cancels(client, campaign, audience):
    sender = staff_in_role(SENDERS, "sender@larkspur-lune.example")
    client.force_login(sender)
    assert send_url(campaign) in edit_page(client, campaign)

    post_send_now(client, campaign, seen=seen_send_id(client, campaign))
    send = Send.objects.get(page=campaign)
    for action, state in (("pause", SendState.PAUSED), ("resume", SendState.SENDING), ("cancel", SendState.CANCELLED)):
        client.post(reverse(f"campaigns_admin:send_{action}", args=[send.pk]))
        assert Send.objects.get(pk=send.pk).state == state

    later = send_create(page=campaign, user=sender)
    send_schedule(send=later, when=timezone.now() + timedelta(days=1), user=sender)
    assert Send.objects.get(pk=later.pk).state == SendState.SCHEDULED
    logged = ModelLogEntry.objects.filter(user_id=sender.pk).values_list("action", flat=True)
    assert set(logged) == {f"campaigns.send_{a}" for a in ("now", "pause", "resume", "cancel", "schedule")}


@pytest.mark.parametrize("role", [EDITORS, PRIVACY_OFFICERS, None])
def test_every_send_action_refuses_whoever_may_not_send_and_changes_nothing(campaign, audience, role):
    owner = staff_in_role(SENDERS, "sender@larkspur-lune.example")
    campaign.refresh_from_db()  # published by the fixture
    sending = send_now(page=campaign, user=owner)
    draft = send_create(page=campaign, user=owner)
    someone = staff_in_role(role, "other@larkspur-lune.example") if role else UserFactory(is_staff=True)
    events, entries = SendEvent.objects.count(), ModelLogEntry.objects.count()

    refused = [
        lambda: send_pause(send=sending, user=someone),
        lambda: send_cancel(send=sending, user=someone),
        lambda: send_schedule(send=draft, when=timezone.now() + timedelta(days=1), user=someone),
        lambda: deliveries_unconfirmed_resend(send=sending, user=someone),
        lambda: send_now(page=campaign, user=someone),
    ]
    for action in refused:
        with pytest.raises(CampaignForbidden):
            action()
    send_pause(send=sending, user=owner)
    with pytest.raises(CampaignForbidden):
        send_resume(send=sending, user=someone)

    assert Send.objects.get(pk=sending.pk).state == SendState.PAUSED  # the owner's pause, nobody else's change
    assert Send.objects.get(pk=draft.pk).state == SendState.DRAFT
    assert SendEvent.objects.count() == events + 1 and ModelLogEntry.objects.count() == entries + 1


def test_publishing_pages_alone_does_not_make_a_sender(client, campaign, audience):
    # Wagtail's own Moderators may publish every page, but sending mails everyone: it needs the send permission
    moderator = UserFactory(email="moderator@larkspur-lune.example", is_staff=True)
    moderator.groups.add(Group.objects.get(name="Moderators"))
    assert campaign.permissions_for_user(moderator).can_publish()
    client.force_login(moderator)

    assert send_url(campaign) not in edit_page(client, campaign)
    assert client.get(send_url(campaign))["Location"] == HOME
    with pytest.raises(CampaignForbidden):
        send_now(page=campaign, user=moderator)
    assert not Send.objects.exists()


def test_a_privacy_officer_is_shown_no_campaign_menus_and_may_not_test_or_send_one(client, campaign):
    officer = staff_in_role(PRIVACY_OFFICERS, "officer@larkspur-lune.example")
    client.force_login(officer)

    # Neither the campaign menus nor the recent sends are shown to someone with no campaign to author
    dashboard = client.get(reverse("wagtailadmin_home")).content.decode()
    assert reverse("campaigns_admin:sends") not in dashboard and "Recent sends" not in dashboard
    client.force_login(staff_in_role(EDITORS, "writer@larkspur-lune.example"))
    dashboard = client.get(reverse("wagtailadmin_home")).content.decode()
    assert reverse("campaigns_admin:sends") in dashboard and "Recent sends" in dashboard
    client.force_login(officer)

    assert client.get(reverse("campaigns_admin:test_send", args=[campaign.pk]))["Location"] == HOME
    with pytest.raises(CampaignForbidden, match="You may not send a test of"):
        campaign_test_send(page=campaign, addresses=["me@example.com"], user=officer)
