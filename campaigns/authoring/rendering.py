"""Render a campaign once: templates -> CSS inlining -> merge templates for subject, HTML and text.

Everything per recipient happens in ``personalise.py`` by substitution into this result.
"""

from dataclasses import dataclass

from django.template.loader import render_to_string

from campaigns.authoring.inline import css_inline
from campaigns.authoring.merge import MergeTemplate
from campaigns.authoring.plaintext import campaign_text_body
from campaigns.models import BrandSettings, EmailPage

TEXT_FOOTER = """
--
You receive this email because you subscribed to {{{{ subscribed_topics }}}} from {brand}.
Manage your preferences: {{{{ preferences_url }}}}
Unsubscribe: {{{{ unsubscribe_url }}}}
View this email in your browser: {{{{ view_in_browser_url }}}}

{brand}, {address}
"""


@dataclass(frozen=True)
class RenderedCampaign:
    """A campaign ready to personalise: what is the same for every recipient, computed once."""

    page_id: int
    revision_id: int | None  # the revision rendered: "view in browser" shows exactly this one
    subject: MergeTemplate
    html: MergeTemplate
    text: MergeTemplate
    sender: str
    reply_to: str
    html_source: str  # the inlined HTML with its merge tags, as stored and checked
    subject_source: str
    text_source: str
    text_body: str  # the plain-text content before the footer (checked: never empty)
    # The campaign's topics as (id, name), in the order topics are listed: the footer of each message names those
    # its recipient subscribed to (the ``subscribed_topics`` merge value, personalise.py).
    topics: tuple[tuple[int, str], ...] = ()

    @property
    def html_bytes(self) -> int:
        return len(self.html_source.encode("utf-8"))


def campaign_render(*, page: EmailPage) -> RenderedCampaign:
    """Render ``page`` (a campaign or any email page) once: templates, then premailer, then split at the merge tags."""
    brand = BrandSettings.load()
    html = css_inline(render_to_string("emails/campaign.html", {"page": page, "brand": brand}))
    text_body = page.plain_text_override.strip() or campaign_text_body(page)
    text = text_body + TEXT_FOOTER.format(brand=brand.brand_name, address=brand.postal_address)
    subject = " ".join(page.subject.split())
    return RenderedCampaign(
        page_id=page.pk,
        subject_source=subject,
        text_source=text,
        revision_id=page.latest_revision_id,
        subject=MergeTemplate.compile(subject, is_html=False),
        html=MergeTemplate.compile(html, is_html=True),
        text=MergeTemplate.compile(text, is_html=False),
        sender=page.sender,
        reply_to=page.reply_to,
        html_source=html,
        text_body=text_body,
        topics=campaign_topics(page=page),
    )


def campaign_topics(*, page: EmailPage) -> tuple[tuple[int, str], ...]:
    """The topics ``page`` goes to, as (id, name) in their listed order: a revision's page gives its own."""
    return page.email_topics()


def rendered_from_sources(
    *,
    page_id: int,
    revision_id: int | None,
    subject: str,
    html: str,
    text: str,
    sender: str,
    reply_to: str,
    topics: tuple[tuple[int, str], ...] = (),
) -> RenderedCampaign:
    """A rendered campaign rebuilt from what a send stored: compiling is cheap, rendering is not repeated."""
    return RenderedCampaign(
        page_id=page_id,
        revision_id=revision_id,
        subject=MergeTemplate.compile(subject, is_html=False),
        html=MergeTemplate.compile(html, is_html=True),
        text=MergeTemplate.compile(text, is_html=False),
        sender=sender,
        reply_to=reply_to,
        html_source=html,
        subject_source=subject,
        text_source=text,
        text_body="",
        topics=topics,
    )
