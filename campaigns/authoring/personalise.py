"""Per-recipient work: merge values, substitution into the rendered campaign, the MIME message.

This is the hot path of a send: no template engine, no CSS inliner, no database query per value beyond
what the caller already loaded.
"""

from collections.abc import Collection

from django.core import signing
from django.urls import reverse

from campaigns.authoring.merge import header_safe
from campaigns.authoring.rendering import RenderedCampaign
from campaigns.results.clicks import CLICK_RECIPIENT_FIELD, click_recipient_key
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


def topics_phrase(names: list[str], *, conjunction: str = "and") -> str:
    """"Offers", "Offers and Events", "Offers, Events and Journal": topic names as a sentence says them."""
    if not names:
        return "our emails"
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def subscribed_topics(*, rendered: RenderedCampaign, topic_ids: Collection[int] | None) -> str:
    """The campaign's topics among ``topic_ids`` (a recipient's active subscriptions), in the campaign's order.

    None is a reader with no subscriptions of their own (a preview, a test send, a sample "view in browser"): every
    topic of the campaign, joined with "or", which is true of every recipient. A few topics at most: no cache."""
    if topic_ids is None:
        return topics_phrase([name for _, name in rendered.topics], conjunction="or")
    own = [name for topic_id, name in rendered.topics if topic_id in topic_ids]
    return topics_phrase(own or [name for _, name in rendered.topics], conjunction="and" if own else "or")


def merge_values(
    *, rendered: RenderedCampaign, subscription: Subscription | None, topic_ids: Collection[int] | None = None
) -> dict[str, str]:
    """The merge values for one recipient, or for a sample reader (previews and test sends).

    ``topic_ids`` are the ids of the recipient's active subscriptions among the campaign's topics (the worker loads
    them with each batch it claims); the topic of ``subscription``, the one its links are for, is always one."""
    token = view_in_browser_token(page_id=rendered.page_id, revision_id=rendered.revision_id, subscription=subscription)
    values = {"view_in_browser_url": absolute(token_path("campaigns:view_in_browser", token))}
    if subscription is None:
        sample = absolute(reverse("newsletter:subscribe"))
        return {
            **values,
            "first_name": "",
            "preferences_url": sample,
            "unsubscribe_url": sample,
            "subscribed_topics": subscribed_topics(rendered=rendered, topic_ids=None),
            CLICK_RECIPIENT_FIELD: "",  # a sample reader's clicks mark no one
        }
    return {
        **values,
        "first_name": subscription.subscriber.first_name,
        "subscribed_topics": subscribed_topics(
            rendered=rendered, topic_ids={subscription.topic_id, *topic_ids} if topic_ids else (subscription.topic_id,)
        ),
        **subscriber_links(subscription=subscription),
        CLICK_RECIPIENT_FIELD: click_recipient_key(subscription=subscription),
    }


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
    *,
    rendered: RenderedCampaign,
    to: str,
    subscription: Subscription | None,
    test: bool = False,
    topic_ids: Collection[int] | None = None,
) -> bytes:
    """One complete message: personalised subject, HTML and text, and per-recipient unsubscribe headers.
    ``topic_ids``: the recipient's subscribed topics, as for ``merge_values``."""
    values = merge_values(rendered=rendered, subscription=subscription, topic_ids=topic_ids)
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
