"""Wagtail's preview of a campaign: the email for a sample reader, with the line an inbox would list it as above it."""

import re

import pytest
from django.test import RequestFactory

from campaigns.authoring.rendering import campaign_render
from campaigns.models import CampaignPage

pytestmark = pytest.mark.django_db


def preview(page: CampaignPage, mode: str = "email") -> str:
    return page.serve_preview(RequestFactory().get("/"), mode).content.decode()


def inbox_field(html: str, name: str) -> str:
    found = re.search(rf"<span [^>]*data-inbox-{name}[^>]*>(.*?)</span>", html, re.DOTALL)
    assert found, f"no {name} in the inbox line"
    return found.group(1)


def test_the_inbox_line_shows_sender_name_subject_and_preheader_for_the_sample_reader(campaign):
    html = preview(campaign)

    assert inbox_field(html, "sender") == "Larkspur &amp; Lune"
    assert 'title="hello@larkspur-lune.example"' in html  # the address, on hover
    assert inbox_field(html, "subject") == "Ada, the winter collection is here"
    assert inbox_field(html, "preheader") == "Hand-finished rings and pendants, in the workshop now."
    assert "data-inbox-note" not in html


def test_the_inbox_line_comes_first_in_the_body_and_the_email_follows_unchanged(campaign):
    html = preview(campaign)

    body = html[html.index("<body") :]
    line, email = body.index("data-inbox-line"), body.index("Made for the long evenings")
    assert line < email
    assert body.index(">", body.index("<body")) < line, "the inbox line is inside the body, not in its tag"
    assert "Dear Ada," in html
    assert "Email at phone width" not in html, "no phone frame of our own: Wagtail's preview sizes set the width"


def test_without_a_preheader_the_inbox_line_shows_the_start_of_the_email_and_says_so(campaign):
    campaign.preheader = ""

    html = preview(campaign)

    # What the email shows first: the browser link, the brand, then the content
    snippet = inbox_field(html, "preheader")
    assert snippet.startswith("View this email in your browser Larkspur &amp; Lune Made for the long evenings")
    assert len(snippet.replace("&amp;", "&")) <= 140 and snippet.endswith("…")
    assert "No preheader: inboxes show the start of the email instead." in html


def test_merge_fields_in_the_preheader_are_filled_and_markup_in_the_subject_is_escaped(campaign):
    campaign.subject = "<b>{{ first_name|Hello }}</b>, new pieces"
    campaign.preheader = "{{ first_name|Dear reader }}, picked for you"
    campaign.sender = "Larkspur & Lune Private Sales <private@larkspur-lune.example>"

    html = preview(campaign)

    assert inbox_field(html, "subject") == "&lt;b&gt;Ada&lt;/b&gt;, new pieces"
    assert inbox_field(html, "preheader") == "Ada, picked for you"
    assert inbox_field(html, "sender") == "Larkspur &amp; Lune Private Sales"


def test_the_preview_modes_are_email_text_and_checklist(campaign):
    assert [name for name, _ in campaign.preview_modes] == ["email", "text", "checks"]
    assert campaign.default_preview_mode == "email"
    assert "data-inbox-line" not in preview(campaign, "text")
    assert "data-inbox-line" in preview(campaign, "desktop"), "an old link to the desktop mode shows the email"


def test_an_email_without_a_preheader_has_no_hidden_padding_that_would_blank_the_inbox_snippet(campaign):
    padding = re.compile("\u2007\u034f|&#8199;&#847;")  # the spaces that keep body text out of a preheader's snippet
    assert padding.search(campaign_render(page=campaign).html_source)
    campaign.preheader = ""

    html = campaign_render(page=campaign).html_source

    assert not padding.search(html)
    assert "display:none" not in html
