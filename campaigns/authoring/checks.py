"""The checks a campaign must pass before it may be sent, shown to its author as a checklist."""

from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser

from django.conf import settings

from campaigns.authoring.merge import LINK_FIELDS, MERGE_TAG, MergeTemplate
from campaigns.authoring.rendering import RenderedCampaign
from campaigns.models import SUBJECT_MAX, BrandSettings

HTML_SIZE_LIMIT = 100 * 1024  # Gmail clips messages whose HTML is larger (about 102 KB).


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


class _LinksAndImages(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.images_without_alt = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"].strip())
        if tag == "img" and not (attrs.get("alt") or "").strip():
            self.images_without_alt += 1


def _is_personal_link(href: str) -> bool:
    tag = MERGE_TAG.fullmatch(href)
    return bool(tag) and tag.group(1) in LINK_FIELDS


def _is_own_site_link(href: str) -> bool:
    # A link to this site (the privacy policy page of an announcement) is as secure as the site: production
    # requires an https SITE_URL, and the demo's http one must not make its own links fail the check.
    site = settings.SITE_URL.rstrip("/") + "/"
    return href.startswith(site)


def _merge_fields_used(text: str) -> set[str]:
    return {m.group(1) for m in MERGE_TAG.finditer(text)}


def campaign_checks(*, rendered: RenderedCampaign, subject: str) -> list[Check]:
    """Every check, passed or not, in the order the author should read them."""
    html = rendered.html_source
    parsed = _LinksAndImages()
    parsed.feed(html)
    brand = BrandSettings.load()
    bad_links = [
        h
        for h in parsed.hrefs
        if not _is_personal_link(h) and not _is_own_site_link(h) and not h.startswith(("https://", "mailto:"))
    ]
    # What a reader without a first name sees: every merge field at its fallback, or empty.
    subject_seen = MergeTemplate.compile(subject, is_html=False).render({}).strip()
    text_seen = MergeTemplate.compile(rendered.text_body, is_html=False).render({}).strip()
    return [
        Check(
            "Unsubscribe link",
            "unsubscribe_url" in _merge_fields_used(html),
            "Every email carries a one-click unsubscribe link and header.",
        ),
        Check(
            "Postal address",
            bool(brand.postal_address.strip()) and escape(brand.postal_address) in html,
            f"Footer shows: {brand.postal_address or 'nothing — set it in Settings > Email brand'}.",
        ),
        Check("Plain-text part", bool(text_seen), "The text part has content beyond the footer."),
        Check(
            "Subject",
            bool(subject_seen) and len(subject.strip()) <= SUBJECT_MAX,
            f"{len(subject.strip())} of at most {SUBJECT_MAX} characters"
            + ("." if subject_seen else "; empty for a reader without a first name: give the merge field a fallback."),
        ),
        Check(
            "Image descriptions",
            parsed.images_without_alt == 0,
            "Every image has alt text."
            if parsed.images_without_alt == 0
            else f"{parsed.images_without_alt} image(s) have no alt text.",
        ),
        Check(
            "Size",
            rendered.html_bytes < HTML_SIZE_LIMIT,
            f"{rendered.html_bytes / 1024:.1f} KB of HTML after inlining (Gmail clips above 100 KB).",
        ),
        Check(
            "Secure links",
            not bad_links,
            "Every link is absolute https."
            if not bad_links
            else "Not absolute https: " + ", ".join(sorted(set(bad_links))[:5]),
        ),
    ]


def campaign_checks_pass(checks: list[Check]) -> bool:
    return all(c.passed for c in checks)
