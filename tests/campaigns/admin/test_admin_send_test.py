"""The "Send test" admin view: the compliance checklist, validated addresses, [TEST] emails, permissions."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from campaigns.authoring.demo_content import demo_campaign
from campaigns.models import CampaignPage
from subscribers.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def winter_campaign(settings, tmp_path) -> CampaignPage:
    """The demo campaign (every block type), its images written under a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path
    return demo_campaign()


def send_test_url(page: CampaignPage) -> str:
    return reverse("campaigns_admin:test_send", args=[page.pk])


def test_page_editor_links_to_send_test(winter_campaign, editor_client):
    response = editor_client.get(reverse("wagtailadmin_pages:edit", args=[winter_campaign.pk]))

    assert response.status_code == 200
    assert f'href="{send_test_url(winter_campaign)}"' in response.content.decode()


def test_campaigns_menu_item_opens_the_campaign_index_in_the_explorer(winter_campaign, editor_client):
    home = editor_client.get(reverse("wagtailadmin_home")).content.decode()
    assert reverse("campaigns_admin:explore") in home

    response = editor_client.get(reverse("campaigns_admin:explore"))

    assert response.status_code == 302
    assert response["Location"] == reverse("wagtailadmin_explore", args=[winter_campaign.get_parent().pk])


def test_send_test_page_shows_the_checklist_of_the_latest_draft(winter_campaign, editor_client):
    # Given a draft, newer than the published version, whose subject is too long
    draft = winter_campaign.get_latest_revision_as_object()
    draft.subject = "A" * 151
    draft.save_revision()

    # When the author opens Send test
    response = editor_client.get(send_test_url(winter_campaign))

    # Then every check is listed, and the subject check judges the draft, not the published version
    assert response.status_code == 200
    html = response.content.decode()
    assert "Before this campaign can be sent" in html
    checks = {check.name: check for check in response.context["checks"]}
    assert set(checks) == {
        "Unsubscribe link",
        "Postal address",
        "Plain-text part",
        "Subject",
        "Image descriptions",
        "Size",
        "Secure links",
    }
    assert not checks["Subject"].passed
    assert "151 of at most 150 characters." in html
    assert all(check.passed for name, check in checks.items() if name != "Subject")
    assert html.count('data-check="passed"') == 6
    assert html.count('data-check="failed"') == 1
    assert 'name="addresses"' in html


def test_valid_addresses_each_receive_a_test_email(
    winter_campaign, editor_client, outbox, django_capture_on_commit_callbacks
):
    # When the author sends a test to two addresses, one written with capitals
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(
            send_test_url(winter_campaign),
            {"addresses": "Ada@Mail.example,\n  grace@mail.example"},
            follow=True,
        )

    # Then they are told so, on the same page
    assert response.redirect_chain == [(send_test_url(winter_campaign), 302)]
    assert "Test sent to ada@mail.example, grace@mail.example." in response.content.decode()

    # And each address received the campaign, marked [TEST], with the sample reader's fallback name
    for address in ("ada@mail.example", "grace@mail.example"):
        message = outbox.last_to(address)
        assert message.subject == "[TEST] Hello, the winter collection is here"
        assert "Made for the long evenings" in message.html
        assert "Made for the long evenings" in message.text
    assert len(outbox.all()) == 2


@pytest.mark.parametrize(
    ("addresses", "error"),
    [
        (
            " ".join(f"reader{n}@mail.example" for n in range(11)),
            "Send a test to at most 10 addresses at a time (11 given).",
        ),
        ("ada@mail.example, not-an-address", "Not a valid email address: not-an-address"),
        ("   ", "This field is required."),
    ],
    ids=["eleven-addresses", "malformed", "blank"],
)
def test_bad_addresses_are_refused_with_a_clear_error_and_nothing_is_sent(
    winter_campaign, editor_client, outbox, django_capture_on_commit_callbacks, addresses, error
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = editor_client.post(send_test_url(winter_campaign), {"addresses": addresses})

    assert response.status_code == 200
    html = response.content.decode()
    assert error in html
    assert "The test was not sent." in html
    assert "Test sent to" not in html
    assert addresses.strip() in html, "the author's input is kept for correcting"
    assert response.context["form"].errors["addresses"] == [error]
    assert callbacks == []
    assert outbox.all() == []


def test_a_user_who_is_not_staff_is_refused_and_nothing_is_sent(
    winter_campaign, client, outbox, django_capture_on_commit_callbacks
):
    client.force_login(User.objects.create_user(email="customer@mail.example", password="unused-in-this-test"))

    response = client.get(send_test_url(winter_campaign))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("wagtailadmin_login"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(send_test_url(winter_campaign), {"addresses": "customer@mail.example"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("wagtailadmin_login"))
    assert outbox.all() == []


def test_staff_without_permission_to_edit_the_campaign_are_refused(
    winter_campaign, client, outbox, django_capture_on_commit_callbacks
):
    # Given staff who may use the admin but have no permission on any page
    viewer = User.objects.create_user(email="viewer@larkspur-lune.example", password="unused-in-this-test")
    viewers = Group.objects.create(name="Admin viewers")
    viewers.permissions.add(Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"))
    viewer.groups.add(viewers)
    client.force_login(viewer)

    # Then neither the page nor the send is theirs
    response = client.get(send_test_url(winter_campaign), follow=True)
    assert response.redirect_chain[-1] == (reverse("wagtailadmin_home"), 302)
    assert "Sorry, you do not have permission to access this area." in response.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(send_test_url(winter_campaign), {"addresses": "viewer@larkspur-lune.example"})
    assert response.status_code == 302
    assert outbox.all() == []


def test_send_test_of_a_page_that_is_not_a_campaign_is_not_found(winter_campaign, editor_client):
    index = winter_campaign.get_parent()

    assert editor_client.get(reverse("campaigns_admin:test_send", args=[index.pk])).status_code == 404


def test_test_sends_are_rate_limited_per_editor(
    winter_campaign, editor_client, outbox, settings, django_capture_on_commit_callbacks
):
    settings.CAMPAIGN_TEST_RATE = "2/h"

    with django_capture_on_commit_callbacks(execute=True):
        responses = [
            editor_client.post(send_test_url(winter_campaign), {"addresses": f"t{i}@mail.example"}) for i in range(3)
        ]

    assert [r.status_code for r in responses] == [302, 302, 200]
    assert "sent many tests in the last hour" in responses[2].content.decode()
    assert len(outbox.all()) == 2
