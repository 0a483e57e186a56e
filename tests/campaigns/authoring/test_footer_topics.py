"""The footer says why this recipient gets the email: the campaign's topics they subscribed to, and no others."""

import email
import email.policy
import re

import pytest
from django.test import Client

from campaigns.authoring.personalise import campaign_message_build, merge_values, topics_phrase
from campaigns.authoring.rendering import campaign_render
from campaigns.models import Delivery
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import _recipient_topics, send_work
from subscribers.models import ConsentSource, SubscriptionStatus, Topic
from subscribers.services import subscription_withdraw
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

WHY = re.compile(r"because you subscribed to (.+?) from")


def footer_reason(text: str) -> str:
    """The topics the footer names, as written (the HTML's entities decoded)."""
    found = WHY.search(" ".join(text.split()))
    assert found, "no 'because you subscribed to ... from' sentence in the footer"
    return found.group(1).replace("&amp;", "&")


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.fixture
def topics(campaign):
    """The demo campaign sent to three topics: General Subscription, "Offers & Events" and "Journal"."""
    general = Topic.objects.get(is_default=True)
    offers = TopicFactory(name="Offers & Events", position=1)
    journal = TopicFactory(name="Journal", position=2)
    campaign.topics.set([general, offers, journal])
    campaign.save_revision().publish()
    return general, offers, journal


def test_topics_are_named_as_a_sentence_says_them():
    assert topics_phrase([]) == "our emails"
    assert topics_phrase(["Offers"]) == "Offers"
    assert topics_phrase(["Offers", "Journal"]) == "Offers and Journal"
    assert topics_phrase(["A", "B", "C"], conjunction="or") == "A, B or C"


def test_a_recipient_reads_only_their_own_topics_in_the_html_and_the_text(campaign, topics):
    _, offers, _ = topics
    subscription = SubscriptionFactory(topic=offers)
    rendered = campaign_render(page=campaign)

    message = parse(
        campaign_message_build(
            rendered=rendered,
            to=subscription.subscriber.email,
            subscription=subscription,
            topic_ids={offers.pk},
        )
    )

    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert footer_reason(html) == "Offers & Events"
    assert footer_reason(text) == "Offers & Events"
    assert "Offers &amp; Events" in html, "a topic name is escaped in the HTML"
    assert "Journal" not in html and "General Subscription" not in html


def test_two_of_three_topics_are_joined_with_and_in_the_campaigns_order(campaign, topics):
    general, _, journal = topics
    subscription = SubscriptionFactory(topic=journal)
    rendered = campaign_render(page=campaign)

    values = merge_values(rendered=rendered, subscription=subscription, topic_ids={journal.pk, general.pk})

    assert values["subscribed_topics"] == "General Subscription and Journal"


def test_without_the_recipients_topics_the_footer_names_the_topic_of_their_links(campaign, topics):
    _, _, journal = topics
    subscription = SubscriptionFactory(topic=journal)

    values = merge_values(rendered=campaign_render(page=campaign), subscription=subscription)

    assert values["subscribed_topics"] == "Journal"


def test_a_test_send_and_the_preview_name_every_topic_with_or(campaign, topics):
    rendered = campaign_render(page=campaign)

    message = parse(campaign_message_build(rendered=rendered, to="t@mail.example", subscription=None, test=True))

    expected = "General Subscription, Offers & Events or Journal"
    assert footer_reason(message.get_body(("plain",)).get_content()) == expected
    assert footer_reason(message.get_body(("html",)).get_content()) == expected


def test_view_in_browser_names_the_recipients_topics_and_a_sample_names_them_all(campaign, topics):
    general, offers, journal = topics
    subscription = SubscriptionFactory(topic=journal)
    SubscriptionFactory(topic=offers, subscriber=subscription.subscriber)
    SubscriptionFactory(topic=general, subscriber=subscription.subscriber, status=SubscriptionStatus.UNSUBSCRIBED)
    rendered = campaign_render(page=campaign)

    def shown(subscription):
        url = merge_values(rendered=rendered, subscription=subscription)["view_in_browser_url"]
        response = Client().get(re.sub(r"^https?://[^/]+", "", url))
        assert response.status_code == 200
        return footer_reason(response.content.decode())

    assert shown(subscription) == "Offers & Events and Journal"
    assert shown(None) == "General Subscription, Offers & Events or Journal"


def test_the_recipients_topics_of_a_whole_batch_take_one_query(campaign, topics, django_assert_num_queries):
    general, offers, journal = topics
    only_general = SubscriptionFactory(topic=general)
    both = SubscriptionFactory(topic=offers)
    SubscriptionFactory(topic=journal, subscriber=both.subscriber)
    SubscriptionFactory(topic=general, subscriber=both.subscriber, status=SubscriptionStatus.PENDING)
    rows = [Delivery(subscriber=s.subscriber, subscription=s) for s in (only_general, both)]
    rows += [Delivery(subscriber=SubscriptionFactory(topic=general).subscriber) for _ in range(20)]

    rendered = campaign_render(page=campaign)
    with django_assert_num_queries(1):
        found = _recipient_topics(rendered, rows)

    assert found[only_general.subscriber_id] == {general.pk}
    assert found[both.subscriber_id] == {offers.pk, journal.pk}


def test_a_send_tells_each_recipient_their_own_topics(campaign, topics, outbox, settings):
    # Given three subscribers: one on Offers & Events, one on Journal and General Subscription, and one who was on
    # all three but withdrew from Journal after subscribing
    settings.SES_MAX_SEND_RATE = 1000
    general, offers, journal = topics
    offers_only = SubscriptionFactory(topic=offers)
    two = SubscriptionFactory(topic=journal)
    SubscriptionFactory(topic=general, subscriber=two.subscriber)
    withdrew = SubscriptionFactory(topic=general)
    SubscriptionFactory(topic=offers, subscriber=withdrew.subscriber)
    journal_of_withdrew = SubscriptionFactory(topic=journal, subscriber=withdrew.subscriber)
    send = send_start(send=send_create(page=campaign))
    subscription_withdraw(subscription=journal_of_withdrew, source=ConsentSource.ACCOUNT_PAGE)

    # When the send runs
    send_work(send_id=send.pk)

    # Then each message's footer names that recipient's topics among the campaign's, in both parts
    expected = {
        offers_only.subscriber.email: "Offers & Events",
        two.subscriber.email: "General Subscription and Journal",
        withdrew.subscriber.email: "General Subscription and Offers & Events",
    }
    received = {message.to[0]: message for message in outbox.all()}
    assert set(received) == set(expected)
    for address, reason in expected.items():
        assert footer_reason(received[address].text) == reason, address
        assert footer_reason(received[address].html) == reason, address
