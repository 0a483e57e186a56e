"""Per-recipient work: merge values, substitution into the rendered campaign, the MIME message.

This is the hot path of a send: no template engine, no CSS inliner, no database query per value beyond
what the caller already loaded.
"""

from django.core import signing
from django.urls import reverse

from campaigns.authoring.merge import header_safe
from campaigns.authoring.rendering import RenderedCampaign
from subscribers.links import absolute, list_unsubscribe_headers, subscriber_links, token_path
from subscribers.mail import message_build
from subscribers.models import Subscription
from subscribers.tokens import sign

VIEW_IN_BROWSER_SALT = "campaigns.view-in-browser"
SAMPLE_FIRST_NAME = "Ada"  # the sample reader's first name, in previews and the subject samples
TEST_PREFIX = "[TEST] "


def view_in_browser_token(*, page_id: int, revision_id: int | None, subscription: Subscription | None) -> str:
    """Signed and opaque: the campaign, the revision that was sent, and the recipient's random public id."""
    recipient = subscription.public_id.hex if subscription else "sample"
    return sign(f"{page_id}-{revision_id or 0}-{recipient}", salt=VIEW_IN_BROWSER_SALT)


def view_in_browser_read(token: str) -> tuple[int, int, str]:
    """(page id, revision id, subscription public id or "sample"); raises signing.BadSignature, ValueError."""
    value = signing.Signer(salt=VIEW_IN_BROWSER_SALT, sep=".").unsign(token)
    page_id, revision_id, recipient = value.split("-", 2)
    return int(page_id), int(revision_id), recipient


def merge_values(*, rendered: RenderedCampaign, subscription: Subscription | None) -> dict[str, str]:
    """The merge values for one recipient, or for a sample reader (previews and test sends)."""
    token = view_in_browser_token(page_id=rendered.page_id, revision_id=rendered.revision_id, subscription=subscription)
    values = {"view_in_browser_url": absolute(token_path("campaigns:view_in_browser", token))}
    if subscription is None:
        sample = absolute(reverse("newsletter:subscribe"))
        return {**values, "first_name": "", "preferences_url": sample, "unsubscribe_url": sample}
    return {**values, "first_name": subscription.subscriber.first_name, **subscriber_links(subscription=subscription)}


def subject_personalise(*, rendered: RenderedCampaign, values: dict[str, str]) -> str:
    """The subject one recipient receives: their values merged in, made safe for the header."""
    return header_safe(rendered.subject.render(values))


def subject_samples(*, rendered: RenderedCampaign) -> list[dict[str, str]]:
    """The subject as sample recipients receive it, through the same merge as a real send: ``[{"who", "subject"}]``.

    Empty when the subject has no merge field (it reads as written). With ``{{ first_name }}``, one sample with a
    first name and one without, who gets the fallback.
    """
    fields = {name for name, _ in rendered.subject.fields}
    if not fields:
        return []
    values = merge_values(rendered=rendered, subscription=None)
    if "first_name" not in fields:
        return [{"who": "a sample recipient", "subject": subject_personalise(rendered=rendered, values=values)}]
    return [
        {
            "who": f"a subscriber named {SAMPLE_FIRST_NAME}",
            "subject": subject_personalise(rendered=rendered, values={**values, "first_name": SAMPLE_FIRST_NAME}),
        },
        {
            "who": "a subscriber with no first name",
            "subject": subject_personalise(rendered=rendered, values={**values, "first_name": ""}),
        },
    ]


def campaign_message_build(
    *, rendered: RenderedCampaign, to: str, subscription: Subscription | None, test: bool = False
) -> bytes:
    """One complete message: personalised subject, HTML and text, and per-recipient unsubscribe headers."""
    values = merge_values(rendered=rendered, subscription=subscription)
    subject = subject_personalise(rendered=rendered, values=values)
    headers = list_unsubscribe_headers(url=values["unsubscribe_url"]) if subscription else {}
    return message_build(
        to=to,
        subject=(TEST_PREFIX + subject) if test else subject,
        text=rendered.text.render_qp(values),
        html=rendered.html.render_qp(values),
        headers=headers,
        sender=rendered.sender,
        reply_to=rendered.reply_to or None,
    )
