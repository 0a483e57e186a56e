"""The Wagtail admin pages for campaigns open and save: the editor, previews and the email brand settings."""

import pytest
from django.urls import reverse

from campaigns.models import BrandSettings, CampaignPage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_campaign_editor_opens_with_only_verified_senders(staff_client, campaign, settings):
    response = staff_client.get(reverse("wagtailadmin_pages:edit", args=[campaign.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    for sender in settings.CAMPAIGN_SENDERS:
        assert f'<option value="{sender.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}"' in html


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("email", "Made for the long evenings"),
        ("text", "Made for the long evenings\n=========================="),
        ("checks", "Before this campaign can be sent"),
    ],
)
def test_each_preview_mode_shows_the_real_email_for_a_sample_reader(staff_client, campaign, mode, expected):
    page = CampaignPage.objects.get(pk=campaign.pk)

    from django.test import RequestFactory

    request = RequestFactory().get("/")
    response = page.serve_preview(request, mode)

    body = response.content.decode()
    assert expected in body
    if mode == "email":
        assert "Dear Ada," in body, "the sample reader's first name is merged in"


def test_email_brand_settings_save_and_refuse_a_bad_colour(staff_client):
    url = reverse("wagtailsettings:edit", args=["campaigns", "brandsettings", BrandSettings.load().pk])
    data = {
        "brand_name": "Larkspur & Lune",
        "accent_colour": "gold",
        "text_colour": "#2b2520",
        "background_colour": "#f6f3ee",
        "postal_address": "1 Vyse Street, Birmingham",
        "default_sender": "",
    }

    refused = staff_client.post(url, data)
    saved = staff_client.post(url, {**data, "accent_colour": "#123456"})

    assert "Enter a colour as # and six hex digits" in refused.content.decode()
    assert saved.status_code == 302
    assert BrandSettings.load().accent_colour == "#123456"


def test_campaign_pages_are_never_served_to_the_public(client, campaign):
    assert client.get(campaign.url or "/pages/campaigns/winter-collection/").status_code == 404
