"""Rendering a campaign once, personalising it per recipient, and the message that results."""

import email
import email.policy
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from campaigns.authoring import test_send as services
from campaigns.authoring.checks import campaign_checks
from campaigns.authoring.merge import MergeTemplate, merge_fields_validate
from campaigns.authoring.personalise import campaign_message_build, merge_values, subject_samples
from campaigns.authoring.rendering import campaign_render
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_every_block_renders_into_the_email(campaign):
    html = campaign_render(page=campaign).html_source

    assert "Made for the long evenings</h1>" in html  # heading
    assert "warm gold, pale moonstones" in html  # rich text
    assert 'alt="A gold ring on a dark background"' in html  # image
    assert "Aurora Ring" in html and "£1,250" in html and "Moonstone Pendant" in html  # two columns of products
    assert ">Shop the collection</a>" in html  # button
    assert 'class="column"' in html  # columns that stack on phones
    assert "border-top:1px solid #e6dccb" in html  # divider
    assert "height:16px" in html  # spacer


def test_email_html_follows_email_client_practice(campaign):
    html = campaign_render(page=campaign).html_source

    assert re.search(r'<table[^>]+class="container"[^>]+width="600"', html)
    assert "Hand-finished rings and pendants, in the workshop now." in html  # hidden preheader
    assert re.search(r'<div style="display:none;[^"]*">Hand-finished', html)
    assert 'name="color-scheme"' in html
    for img in re.findall(r"<img [^>]+>", html):
        assert re.search(r'width="\d+"', img) and re.search(r'height="\d+"', img) and 'alt="' in img, img
    assert "12 Assay Lane, Birmingham" in html  # postal address in the footer
    # Why this recipient gets it: their own topics, substituted per recipient (tests/.../test_footer_topics.py)
    assert "You receive this email because you subscribed to {{ subscribed_topics }} from" in html
    fields = {name for name, _ in campaign_render(page=campaign).html.fields}
    assert {"preferences_url", "unsubscribe_url", "view_in_browser_url"} <= fields


def test_styles_from_the_style_sheet_are_inlined(campaign):
    html = campaign_render(page=campaign).html_source

    # ".rich-text p { margin: 0 0 16px }" lives in <style>; the inliner copies it onto each paragraph.
    assert re.search(r'<p style="margin:0 0 16px">Our winter collection', html) or re.search(
        r'<p style="[^"]*margin:0 0 16px[^"]*">Our winter collection', html
    )
    assert "@media only screen and (max-width: 620px)" in html  # media queries stay in <style>


def test_merge_values_are_html_escaped_in_html_and_plain_in_text(campaign):
    subscription = SubscriptionFactory(subscriber__first_name='Zoë <b>"bold"</b> & co')
    rendered = campaign_render(page=campaign)

    message = parse(
        campaign_message_build(rendered=rendered, to=subscription.subscriber.email, subscription=subscription)
    )

    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Dear Zoë &lt;b&gt;&quot;bold&quot;&lt;/b&gt; &amp; co," in html
    assert "<b>" not in html.split("Dear")[1][:60]
    assert 'Dear Zoë <b>"bold"</b> & co,' in text
    assert message["Subject"] == 'Zoë <b>"bold"</b> & co, the winter collection is here'


def test_a_missing_first_name_uses_the_fallback(campaign):
    subscription = SubscriptionFactory(subscriber__first_name="")
    rendered = campaign_render(page=campaign)

    message = parse(campaign_message_build(rendered=rendered, to="x@mail.example", subscription=subscription))

    assert message["Subject"] == "Hello, the winter collection is here"
    assert "Dear friend," in message.get_body(("plain",)).get_content()


def test_line_breaks_can_never_reach_the_subject_header(campaign):
    subscription = SubscriptionFactory(subscriber__first_name="Eve\r\nBcc: victim@mail.example")
    rendered = campaign_render(page=campaign)

    raw = campaign_message_build(rendered=rendered, to="x@mail.example", subscription=subscription)

    message = parse(raw)
    assert "Bcc" not in message
    assert "\r\nBcc:" not in raw.decode("ascii").split("\r\n\r\n")[0]


def test_a_subject_with_a_line_break_is_refused_when_saving(campaign):
    campaign.subject = "Winter\r\nBcc: everyone@mail.example"

    with pytest.raises(ValidationError) as err:
        campaign.full_clean()

    assert "line break" in str(err.value.message_dict["subject"])


@pytest.mark.parametrize("field", ["subject", "preheader", "plain_text_override"])
def test_an_unknown_merge_field_is_refused_naming_it_and_the_field(campaign, field):
    setattr(campaign, field, "Hello {{ surname }}")

    with pytest.raises(ValidationError) as err:
        campaign.full_clean()

    message = " ".join(err.value.message_dict[field])
    assert "{{ surname }}" in message and "first_name" in message


def test_an_unknown_merge_field_in_the_body_is_refused(campaign):
    campaign.body.append(("heading", {"text": "For {{ favourite_colour }} lovers", "level": "h2"}))

    with pytest.raises(ValidationError) as err:
        campaign.full_clean()

    assert "{{ favourite_colour }}" in " ".join(err.value.message_dict["body"])


def test_known_merge_fields_with_fallbacks_are_accepted():
    merge_fields_validate("Hi {{ first_name|there }}, see {{unsubscribe_url}}", field="subject")


def test_plain_text_part_is_readable_with_underlined_headings_and_footnoted_links(campaign):
    rendered = campaign_render(page=campaign)

    text = rendered.text.render(merge_values(rendered=rendered, subscription=SubscriptionFactory()))

    assert "Made for the long evenings\n==========================" in text
    assert "Free engraving until Sunday\n---------------------------" in text
    assert "See the whole collection [1]" in " ".join(text.split())
    assert "Aurora Ring, £1,250 [2]" in text
    assert "[1] https://shop.larkspur-lune.example/winter" in text
    assert "<" not in text.split("--\n")[0], "no HTML in the text part"
    assert "Unsubscribe: http" in text


def test_message_has_the_headers_a_bulk_sender_needs(campaign, settings):
    subscription = SubscriptionFactory()
    campaign.reply_to = "care@larkspur-lune.example"
    rendered = campaign_render(page=campaign)

    message = parse(
        campaign_message_build(rendered=rendered, to=subscription.subscriber.email, subscription=subscription)
    )

    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in message.iter_parts())
    assert message["From"] == campaign.sender
    assert message["Reply-To"] == "care@larkspur-lune.example"
    assert message["To"] == subscription.subscriber.email
    assert message["Message-ID"].endswith("@larkspur-lune.example>")
    unsubscribe = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"]).group(1)
    assert unsubscribe.startswith(f"{settings.SITE_URL}/newsletter/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.get_body(("html",)).get_content()
    assert f'href="{unsubscribe}"' in html, "the footer link and the header name the same URL"


def test_a_test_message_is_marked_in_its_subject(campaign):
    rendered = campaign_render(page=campaign)

    message = parse(campaign_message_build(rendered=rendered, to="t@mail.example", subscription=None, test=True))

    assert message["Subject"].startswith("[TEST] ")
    assert "List-Unsubscribe" not in message


def test_view_in_browser_link_shows_the_personalised_email_and_refuses_a_forged_token(campaign):
    subscription = SubscriptionFactory(subscriber__first_name="Grace")
    rendered = campaign_render(page=campaign)
    url = merge_values(rendered=rendered, subscription=subscription)["view_in_browser_url"]
    path = re.sub(r"^https?://[^/]+", "", url)

    response = Client().get(path)

    assert path.startswith("/email/")
    assert response.status_code == 200
    assert "Dear Grace," in response.content.decode()
    assert subscription.subscriber.email not in path
    assert Client().get(path[:-3] + "xx/").status_code == 404


def test_merge_template_substitution_is_a_join_of_precomputed_pieces():
    template = MergeTemplate.compile("<p>Hi {{ first_name|there &amp; you }}!</p>", is_html=True)

    assert template.render({"first_name": "A&B"}) == "<p>Hi A&amp;B!</p>"
    assert template.render({}) == "<p>Hi there &amp; you!</p>"


def test_the_demo_campaign_passes_every_compliance_check(campaign):
    checks = campaign_checks(rendered=campaign_render(page=campaign), subject=campaign.subject)

    assert [c.name for c in checks if not c.passed] == []
    assert len(checks) == 7


def test_compliance_checks_catch_an_insecure_link_and_a_long_subject(campaign):
    campaign.body.append(("button", {"text": "Old shop", "link": "http://shop.larkspur-lune.example/old"}))
    rendered = campaign_render(page=campaign)

    checks = {c.name: c for c in campaign_checks(rendered=rendered, subject="x" * 151)}

    assert not checks["Secure links"].passed
    assert "http://shop.larkspur-lune.example/old" in checks["Secure links"].detail
    assert not checks["Subject"].passed and "151" in checks["Subject"].detail


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "at least one"),
        ("a@mail.example, not-an-address", "not-an-address"),
        (" ".join(f"p{i}@mail.example" for i in range(11)), "at most 10"),
    ],
)
def test_test_addresses_are_validated_with_clear_messages(raw, message):
    with pytest.raises(ValidationError) as err:
        services.test_addresses_parse(raw)

    assert message in " ".join(err.value.messages)


def test_test_addresses_are_normalised_and_deduplicated():
    assert services.test_addresses_parse("A@Mail.example\na@mail.example, b@mail.example") == [
        "a@mail.example",
        "b@mail.example",
    ]


@pytest.mark.parametrize(
    ("link", "error"),
    [
        ("{{ preferences_url }}", None),
        ("https://shop.larkspur-lune.example/sale", None),
        ("{{ first_name }}", "is not a link"),
        ("not a link", "Enter a valid URL"),
    ],
)
def test_a_button_links_to_a_web_address_or_a_personal_link(link, error):
    from campaigns.authoring.blocks import CallToActionBlock

    block = CallToActionBlock()
    if error is None:
        assert block.clean(block.to_python({"text": "Go", "link": link}))["link"] == link
    else:
        with pytest.raises(ValidationError) as err:
            block.clean(block.to_python({"text": "Go", "link": link}))
        assert error in str(err.value.block_errors if hasattr(err.value, "block_errors") else err.value)


def test_a_button_to_the_preference_centre_is_personalised(campaign):
    campaign.body.append(("button", {"text": "Your preferences", "link": "{{ preferences_url }}"}))
    subscription = SubscriptionFactory()
    rendered = campaign_render(page=campaign)

    html = rendered.html.render(merge_values(rendered=rendered, subscription=subscription))

    from subscribers.links import preferences_url

    assert f'href="{preferences_url(subscriber=subscription.subscriber)}"' in html


def test_view_in_browser_shows_the_revision_that_was_sent_not_a_later_draft(campaign):
    subscription = SubscriptionFactory()
    rendered = campaign_render(page=campaign)
    path = re.sub(
        r"^https?://[^/]+", "", merge_values(rendered=rendered, subscription=subscription)["view_in_browser_url"]
    )
    draft = campaign.get_latest_revision_as_object()
    draft.body[1].value["text"] = "A secret sale nobody should see yet"
    draft.save_revision()  # a draft: not published, not sent

    html = Client().get(path).content.decode()

    assert "Made for the long evenings" in html
    assert "A secret sale" not in html


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<p>Dear {{ <b>first_name</b> }}</p>", "{{ first_name }}"),  # a tag split by markup is refused
        ("<p>Dear {{ first name }}</p>", "{{ first name }}"),
        ("<p>Dear {{ frist_name|friend }}</p>", "frist_name"),
        ('<p><a href="{{ first_name }}">me</a></p>', "cannot be part of a link address"),
        ('<p><a href="https://shop.example/?n={{ first_name }}">me</a></p>', "cannot be part of a link address"),
    ],
)
def test_mistyped_or_misplaced_merge_fields_in_rich_text_are_refused(campaign, text, message):
    from wagtail.rich_text import RichText

    campaign.body.append(("text", RichText(text)))

    with pytest.raises(ValidationError) as err:
        campaign.full_clean()

    assert message in " ".join(err.value.message_dict["body"])


def test_a_name_that_looks_like_an_encoded_word_cannot_spoof_the_subject(campaign):
    spoof = "=?utf-8?b?WW91IHdvbiAkMTAwMA==?="  # "You won $1000"
    subscription = SubscriptionFactory(subscriber__first_name=spoof)

    raw = campaign_message_build(
        rendered=campaign_render(page=campaign), to="x@mail.example", subscription=subscription
    )

    assert parse(raw)["Subject"] == f"{spoof}, the winter collection is here"


def test_bare_carriage_returns_never_reach_the_wire(campaign):
    campaign.plain_text_override = "Line one\rLine two\r\nLine three"

    raw = campaign_message_build(rendered=campaign_render(page=campaign), to="x@mail.example", subscription=None)

    assert b"\r" not in raw.replace(b"\r\n", b"")
    text = parse(raw).get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Line one\nLine two\nLine three")


def test_a_subject_that_is_empty_without_a_first_name_fails_its_check(campaign):
    rendered = campaign_render(page=campaign)

    bare = {c.name: c for c in campaign_checks(rendered=rendered, subject="{{ first_name }}")}
    with_fallback = {c.name: c for c in campaign_checks(rendered=rendered, subject="{{ first_name|Hello }}")}

    assert not bare["Subject"].passed and "fallback" in bare["Subject"].detail
    assert with_fallback["Subject"].passed


def test_a_postal_address_with_an_ampersand_passes_its_check(campaign):
    from campaigns.models import BrandSettings

    brand = BrandSettings.load()
    brand.postal_address = "Smith & Daughters, 1 Vyse Street, Birmingham"
    brand.save()

    checks = {c.name: c for c in campaign_checks(rendered=campaign_render(page=campaign), subject="Hi")}

    assert checks["Postal address"].passed


def test_line_breaks_in_rich_text_survive_in_the_plain_text(campaign):
    from wagtail.rich_text import RichText

    campaign.body.append(("text", RichText("<p>12 Assay Lane<br/>Birmingham</p>")))

    text = campaign_render(page=campaign).text_body

    assert "12 Assay Lane\nBirmingham" in text


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Winter   for  Zoë", "Winter for Zoë"),
        ("Hi\r\nBcc: x@mail.example", "Hi Bcc: x@mail.example"),
        ("tab\there\x00nul\x1besc\x7fdel", "tab here nul esc del"),
        ("line\u2028separator\xa0nbsp", "line separator nbsp"),
        ("", ""),
        (None, ""),
    ],
)
def test_header_values_lose_control_characters_and_extra_spaces(value, expected):
    from campaigns.authoring.merge import header_safe

    assert header_safe(value) == expected


def test_subject_samples_are_what_a_real_send_puts_in_the_subject_header(campaign):
    # Given the demo subject "{{ first_name|Hello }}, the winter collection is here"
    rendered = campaign_render(page=campaign)

    samples = subject_samples(rendered=rendered)

    assert [sample["subject"] for sample in samples] == [
        "Ada, the winter collection is here",
        "Hello, the winter collection is here",
    ]
    assert samples[1]["who"] == "a subscriber with no first name"
    # The same merge as the message a recipient receives
    for first_name, sample in (("Ada", samples[0]), ("", samples[1])):
        subscription = SubscriptionFactory(subscriber__first_name=first_name)
        raw = campaign_message_build(rendered=rendered, to=subscription.subscriber.email, subscription=subscription)
        assert parse(raw)["Subject"] == sample["subject"]


def test_a_subject_without_merge_fields_needs_no_sample_and_one_without_a_fallback_shows_the_gap(campaign):
    campaign.subject = "The winter collection is here"
    assert subject_samples(rendered=campaign_render(page=campaign)) == []

    campaign.subject = "{{ first_name }}, the   winter\ncollection"
    samples = subject_samples(rendered=campaign_render(page=campaign))
    assert [sample["subject"] for sample in samples] == ["Ada, the winter collection", ", the winter collection"]
