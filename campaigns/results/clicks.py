"""Click tracking: links of a send rewritten to ``/c/<token>/?r=<recipient key>``, counted per link, and per
recipient only as "followed a link of this email".

At the start of a send, ``links_track`` replaces the address of every ``<a href>`` that is an absolute
``http(s)`` URL with a link to this site, and stores each distinct address once as a ``TrackedLink``. The token
names only the send and the link's position; it is followed by a merge tag that each recipient's copy fills with
their own signed key (``click_recipient_key``). ``click_follow`` counts the click on the link (how often each link
was followed), marks the recipient's delivery as clicked the first time (how many people clicked, the report's
"clicked by unique recipients" rate) and returns the stored address: the redirect can only go where the campaign
linked, never to an address taken from the request (no open redirect).

What is kept about a person is one time on their delivery row, like the delivery and bounce times SES reports:
that they followed a link, never which one or how often. It is in their copy of their data and goes with
erasure; reports show it only as an aggregate with the minimum group size (DESIGN.md section 7). A link whose key
is missing, empty or forged still redirects and counts for the link, and marks nobody.
"""

import re
import time
from html import escape, unescape
from urllib.parse import urlsplit

from django.core import signing
from django.urls import reverse

from campaigns.errors import CampaignError
from campaigns.models import Send, TrackedLink
from campaigns.results.tally import tally_click
from subscribers.links import absolute
from subscribers.models import Subscription
from subscribers.tokens import sign

CLICK_SALT = "campaigns.click"
CLICK_RECIPIENT_SALT = "campaigns.click-recipient"
# The merge field each recipient's copy fills with their key; not one an author may use (merge.MERGE_FIELDS).
CLICK_RECIPIENT_FIELD = "click_recipient"
URL_MAX_LENGTH = TrackedLink._meta.get_field("url").max_length
POSITION_MAX = 32767  # the largest PositiveSmallIntegerField every database accepts
# The addresses of links clicked lately, kept in each process: (send id, position) -> (address, kept until).
LINK_SECONDS = 600
LINKS_KEPT_MAX = 10_000
_links: dict[tuple[int, int], tuple[str, float]] = {}

# One pass over the HTML finds either a stretch to leave alone (a comment, which may be an Outlook conditional
# comment, or a <style> block, where "<a" is not a tag) or the start tag of a link. Quoted attribute values may
# contain ">", so the tag is matched value by value.
_TAG_OR_SKIPPED = re.compile(
    r"""(?P<skipped><!--.*?-->|<style\b.*?</style\s*>)"""
    r"""|(?P<tag><a(?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*>)""",
    re.IGNORECASE | re.DOTALL,
)
# One attribute of a start tag: name, then optionally =value (double-quoted, single-quoted or bare).
# https://html.spec.whatwg.org/multipage/syntax.html#attributes-2
_ATTRIBUTE = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
# A bare (unquoted) value with a quote or "<" in it is read differently by browsers and by the patterns above.
_BARE_AMBIGUOUS = re.compile(r"""["'<]""")
# What a browser ignores in a URL: leading and trailing C0 controls and spaces, and tabs and newlines anywhere.
# https://url.spec.whatwg.org/#concept-basic-url-parser
_URL_EDGES = "".join(chr(c) for c in range(0x21))
_URL_IGNORED = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ClickError(CampaignError):
    """A click that cannot be followed; the message says why."""


class ClickTokenInvalid(ClickError):
    """The token was tampered with, truncated, or made for another purpose."""


class ClickLinkUnknown(ClickError):
    """The token is genuine but names no stored link (its send was deleted, say)."""


def _signer() -> signing.Signer:
    return signing.Signer(salt=CLICK_SALT, sep=".")


def click_token(*, send_id: int, position: int) -> str:
    """Signed, URL-safe and short: the send and the link's position, nothing about the recipient."""
    return _signer().sign(f"{send_id}-{position}")


def click_token_read(*, token: str) -> tuple[int, int]:
    """(send id, position) from a token, or ClickTokenInvalid. The signature is compared in constant time."""
    try:
        send_id, position = _signer().unsign(token).split("-")
        send_id, position = int(send_id), int(position)
    except (signing.BadSignature, ValueError) as err:
        raise ClickTokenInvalid("This link is not valid.") from err
    return send_id, position


def click_url(*, send_id: int, position: int) -> str:
    """The absolute tracked address of one link of one send."""
    return absolute(reverse("campaigns:click", args=[click_token(send_id=send_id, position=position)]))


def click_recipient_key(*, subscription: Subscription) -> str:
    """Signed and opaque, one per recipient (the random public id of the subscription the email went to): which
    delivery of a send a click marks. Computed once per message, beside the unsubscribe link."""
    return sign(subscription.public_id.hex, salt=CLICK_RECIPIENT_SALT)


def _click_recipient_read(key: str) -> str | None:
    """The subscription public id (hex) a key names, or None for an empty, forged or foreign key."""
    try:
        return signing.Signer(salt=CLICK_RECIPIENT_SALT, sep=".").unsign(key)
    except signing.BadSignature:
        return None


def _trackable(href: str) -> str | None:
    """The URL a browser would follow for this href, if it is one to track; None to leave the href alone.

    Left alone: merge tags (the per-recipient unsubscribe, preferences and view-in-browser links, whole or
    inside an address), anything that is not an absolute http(s) URL (mailto:, tel:, #anchors, relative paths,
    javascript:), addresses with control characters, and addresses too long to store.
    """
    url = _URL_IGNORED.sub("", unescape(href)).strip(_URL_EDGES)
    if "{{" in url:  # a merge tag, filled in per recipient by personalise.py (or braces that look like one)
        return None
    if _CONTROL.search(url) or len(url) > URL_MAX_LENGTH:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # an invalid IPv6 host, for example
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _href_span(tag: str) -> tuple[int, int, bool, str] | None:
    """(start, end, quoted, value) of the first href attribute of a start tag, as written (browsers use the first)."""
    for attribute in _ATTRIBUTE.finditer(tag, 2):  # after "<a"
        if attribute.group(1).lower() != "href":
            continue
        for group in (2, 3, 4):
            if attribute.group(group) is not None:
                if group == 4 and _BARE_AMBIGUOUS.search(attribute.group(4)):
                    return None
                return attribute.start(group), attribute.end(group), group != 4, attribute.group(group)
        return None  # an href without a value
    return None


def links_track(*, send: Send, html: str) -> str:
    """Rewrite the send's http(s) links to ``/c/<token>/`` and store each distinct address once, in order.

    Called once, inside ``send_start``'s transaction, on the HTML that is then stored as the send's
    ``html_source``. Positions count from 1 in order of first appearance; the same address twice is one link.
    Everything outside the rewritten href values is kept byte for byte. The plain-text part is not touched.
    """
    positions: dict[str, int] = {}
    out: list[str] = []
    last = 0
    for match in _TAG_OR_SKIPPED.finditer(html):
        if match.group("tag") is None:
            continue
        tag = match.group("tag")
        span = _href_span(tag)
        url = _trackable(span[3]) if span else None
        if url is None or (url not in positions and len(positions) >= POSITION_MAX):
            continue
        position = positions.setdefault(url, len(positions) + 1)
        start, end, quoted, _ = span
        tracked = f"{click_url(send_id=send.pk, position=position)}?r={{{{ {CLICK_RECIPIENT_FIELD} }}}}"
        new_href = escape(tracked, quote=True)
        if not quoted:
            new_href = f'"{new_href}"'  # quoted now: safe whatever the address holds
        out += [html[last : match.start()], tag[:start], new_href, tag[end:]]
        last = match.end()
    out.append(html[last:])
    TrackedLink.objects.bulk_create(
        TrackedLink(send=send, position=position, url=url) for url, position in positions.items()
    )
    return "".join(out)


def click_follow(*, token: str, recipient_key: str = "") -> str:
    """Count one click on the link the token names, mark the recipient's delivery clicked the first time, and
    return the link's stored address, the only place to go.

    Raises ClickTokenInvalid for a forged, altered or foreign token and ClickLinkUnknown when no such link is
    stored; nothing is counted then. The click is counted through ``tally`` (queued, carried to Redis by a thread of
    the process, written to the database in batches), so that a popular link's clicks never queue behind each other
    and the redirect waits for neither; the delivery is marked by the flush only where it is not marked yet, so a
    second click (or a concurrent one) changes nothing. A missing or forged ``recipient_key`` marks nobody.
    """
    send_id, position = click_token_read(token=token)
    public_id = _click_recipient_read(recipient_key) if recipient_key else None
    url = _link_address(send_id=send_id, position=position)
    tally_click(send_id=send_id, position=position, public_id=public_id)
    return url


def _link_address(*, send_id: int, position: int) -> str:
    """The stored address of a link, or ClickLinkUnknown. Kept in the process for ``LINK_SECONDS`` after it was
    read, so that the clicks after the first need no database (a tracked link's address never changes; a send
    deleted meanwhile goes on redirecting for up to those minutes, and its clicks count nothing)."""
    key = (send_id, position)
    now = time.monotonic()
    kept = _links.get(key)
    if kept is not None and kept[1] > now:
        return kept[0]
    url = TrackedLink.objects.filter(send_id=send_id, position=position).values_list("url", flat=True).first()
    if url is None:
        raise ClickLinkUnknown("This link is not valid.")
    if len(_links) >= LINKS_KEPT_MAX:
        _links.clear()  # rare (ten thousand links clicked within minutes): start again rather than track ages
    _links[key] = (url, now + LINK_SECONDS)
    return url


def link_addresses_forget() -> None:
    """Forget the link addresses this process keeps (tests whose database gives out the same ids again)."""
    _links.clear()
