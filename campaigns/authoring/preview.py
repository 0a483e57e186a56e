"""What Wagtail's preview panel shows for a campaign: the real email for a sample reader.

Wagtail's own size buttons (mobile, tablet, desktop) set the width; the email's media query does the rest. Above
the email, the line an inbox would list it as: who it is from, the subject and the preheader.
"""

import re
from email.utils import parseaddr
from html.parser import HTMLParser

from csp.constants import NONE, SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.http import HttpResponse
from django.template.loader import render_to_string

from campaigns.authoring.checks import campaign_checks
from campaigns.authoring.merge import MergeTemplate
from campaigns.authoring.personalise import SAMPLE_FIRST_NAME, merge_values, subject_personalise
from campaigns.authoring.rendering import RenderedCampaign, campaign_render

# Inboxes show about this much of the preheader (or, without one, of the email's first text) after the subject.
INBOX_SNIPPET_MAX = 140
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


class _VisibleText(HTMLParser):
    """The text a reader sees in an HTML email, in order: what an inbox takes its snippet from."""

    HIDDEN = {"head", "style", "script", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.words += data.split()


def _visible_text(html: str, *, limit: int) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(parser.words)[: limit + 1]


def inbox_line(*, page, rendered: RenderedCampaign, values: dict[str, str], html: str) -> dict[str, str | bool]:
    """The sender's name, the subject and the preheader for ``values`` (a sample reader), as an inbox lists them.

    Without a preheader an inbox shows the first text of the email (``html``, personalised) instead; so does this,
    and says so."""
    name, address = parseaddr(rendered.sender)
    preheader = " ".join(MergeTemplate.compile(page.preheader or "", is_html=False).render(values).split())
    snippet = preheader or _visible_text(html, limit=INBOX_SNIPPET_MAX)
    if len(snippet) > INBOX_SNIPPET_MAX:
        snippet = snippet[: INBOX_SNIPPET_MAX - 1].rstrip() + "…"
    return {
        "sender_name": name or address or rendered.sender,
        "sender_address": address,
        "subject": subject_personalise(rendered=rendered, values=values),
        "preheader": snippet,
        "has_preheader": bool(preheader),
    }


def _with_inbox_line(html: str, line_html: str) -> str:
    """The email with the inbox line first in its body (the email's own markup is left as it is)."""
    opening = _BODY_OPEN.search(html)
    if opening is None:
        return line_html + html
    return html[: opening.end()] + line_html + html[opening.end() :]

# The Content-Security-Policy of a page that shows an email: the preview here and the web view (/email/<token>/).
# An email is written for mail clients, with inline styles everywhere and images that may be served from anywhere
# (a CDN, the shop's site): those are allowed, and still no script runs at all. Wagtail renders the preview for a
# request of its own, which the middleware would otherwise give the site's policy (docs/operations.md).
EMAIL_PAGE_POLICY = {
    "script-src": [NONE],
    "style-src": [SELF, UNSAFE_INLINE],
    "img-src": [SELF, "data:", "https:"],
}


@csp_replace(EMAIL_PAGE_POLICY)
def campaign_preview_response(request, *, page, mode: str) -> HttpResponse:
    """email (the default): the inbox line, then the HTML part; text: the plain-text part; checks: the checklist."""
    rendered = campaign_render(page=page)
    values = {**merge_values(rendered=rendered, subscription=None), "first_name": SAMPLE_FIRST_NAME}
    if mode == "text":
        return HttpResponse(
            render_to_string(
                "campaigns/preview_text.html",
                {
                    "subject": rendered.subject.render(values),
                    "text": rendered.text.render(values),
                },
            )
        )
    if mode == "checks":
        checks = campaign_checks(rendered=rendered, subject=page.subject)
        return HttpResponse(render_to_string("campaigns/preview_checks.html", {"checks": checks, "page": page}))
    html = rendered.html.render(values)
    line = render_to_string(
        "campaigns/preview_inbox_line.html",
        {**inbox_line(page=page, rendered=rendered, values=values, html=html), "sample_name": SAMPLE_FIRST_NAME},
    )
    return HttpResponse(_with_inbox_line(html, line))
