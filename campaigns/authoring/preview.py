"""What Wagtail's preview panel shows for a campaign: the real email for a sample reader."""

from csp.constants import NONE, SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.http import HttpResponse
from django.template.loader import render_to_string

from campaigns.authoring.checks import campaign_checks
from campaigns.authoring.personalise import merge_values
from campaigns.authoring.rendering import campaign_render

SAMPLE_FIRST_NAME = "Ada"

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
    """desktop: the HTML part; phone: the same in a 390px frame; text: the plain-text part; checks: the checklist."""
    rendered = campaign_render(page=page)
    values = {**merge_values(rendered=rendered, subscription=None), "first_name": SAMPLE_FIRST_NAME}
    html = rendered.html.render(values)
    if mode == "phone":
        return HttpResponse(render_to_string("campaigns/preview_phone.html", {"html": html}))
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
    return HttpResponse(html)
