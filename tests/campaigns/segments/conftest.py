"""Three people with everything a segment can ask about, told apart by their first names."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from campaigns.authoring.demo_content import campaign_index
from campaigns.models import CampaignPage, Delivery, DeliveryState, Send, SendState
from subscribers.models import (
    Attribute,
    AttributeType,
    AttributeValue,
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    ConsentSource,
    Subscriber,
    SubscriptionStatus,
    Topic,
)
from tests.factories import SubscriberFactory, SubscriptionFactory, TopicFactory, UserFactory


@dataclass
class People:
    ada: Subscriber
    bob: Subscriber
    cat: Subscriber
    offers: Topic
    campaign_id: int


def attribute(key: str, type: str, **kwargs) -> Attribute:
    return Attribute.objects.create(key=key, label=key.title(), type=type, **kwargs)


def value(subscriber, attribute: Attribute, **column) -> None:
    AttributeValue.objects.create(subscriber=subscriber, attribute=attribute, **column)


def event(subscriber, source: str, *, days_ago: int, action=ConsentAction.REQUESTED) -> None:
    ConsentEvent.objects.create(
        subscriber=subscriber,
        purpose=ConsentPurpose.MARKETING,
        action=action,
        source=source,
        occurred_at=timezone.now() - timedelta(days=days_ago),
    )


def received(subscriber, *, send: Send, days_ago: float, state=DeliveryState.SENT) -> Delivery:
    return Delivery.objects.create(
        send=send, subscriber=subscriber, state=state, finished_at=timezone.now() - timedelta(days=days_ago)
    )


def small_campaign(slug: str, *, topics: list[Topic] | None = None) -> CampaignPage:
    """A published campaign of a heading and a paragraph: quick to make and to render, and passes its checks."""
    page = CampaignPage(
        title=slug.replace("-", " ").capitalize(),
        slug=slug,
        subject="News from the workshop",
        sender=settings.CAMPAIGN_SENDERS[0],
        body=[("heading", {"text": "New rings", "level": "h1"}), ("text", "<p>Hand-finished in our workshop.</p>")],
    )
    campaign_index().add_child(instance=page)
    page.topics.set(topics or [Topic.objects.get(is_default=True)])
    page.save_revision().publish()
    page.refresh_from_db()
    return page


@pytest.fixture
def campaign(db) -> CampaignPage:
    return small_campaign("spring-news")


@pytest.fixture
def declared(db) -> dict:
    """One attribute of each type, and an Offers topic beside General."""
    return {
        "country": attribute("country", AttributeType.TEXT),
        "spend": attribute("spend", AttributeType.NUMBER),
        "last_order": attribute("last_order", AttributeType.DATE),
        "vip": attribute("vip", AttributeType.BOOLEAN),
        "metal": attribute("metal", AttributeType.CHOICE, choices=["gold", "silver", "platinum"]),
        "offers": TopicFactory(slug="offers", name="Offers"),
    }


@pytest.fixture
def people(campaign, declared) -> People:
    """Ada: every attribute set, an account in Edinburgh, on General and Offers, joined 100 days ago on the public
    form, two campaigns received this week. Bob: other values, no account, pending on Offers, joined two years ago by
    import, one campaign a month ago. Cat: nothing at all, joined today through the API."""
    now = timezone.now()
    general, offers = Topic.objects.get(is_default=True), declared["offers"]
    country, spend, last_order, vip, metal = (declared[k] for k in ("country", "spend", "last_order", "vip", "metal"))

    user = UserFactory(email="ada@shop.example")
    user.profile.country, user.profile.town = "GB", "Edinburgh"
    user.profile.save()
    ada = SubscriberFactory(first_name="Ada", user=user, created_at=now - timedelta(days=100))
    bob = SubscriberFactory(first_name="Bob", created_at=now - timedelta(days=730))
    cat = SubscriberFactory(first_name="Cat", created_at=now)

    value(ada, country, text="Scotland")
    value(ada, spend, number=Decimal("120.50"))
    value(ada, last_order, date=timezone.localdate() - timedelta(days=10))
    value(ada, vip, boolean=True)
    value(ada, metal, text="gold")
    value(bob, country, text="Wales")
    value(bob, spend, number=Decimal("40"))
    value(bob, last_order, date=timezone.localdate() - timedelta(days=400))
    value(bob, vip, boolean=False)
    value(bob, metal, text="silver")

    SubscriptionFactory(subscriber=ada, topic=general)
    SubscriptionFactory(subscriber=ada, topic=offers)
    SubscriptionFactory(subscriber=bob, topic=offers, status=SubscriptionStatus.PENDING)

    event(ada, ConsentSource.PUBLIC_FORM, days_ago=100)
    event(ada, ConsentSource.IMPORT, days_ago=50, action=ConsentAction.IMPORTED)
    event(bob, ConsentSource.IMPORT, days_ago=730, action=ConsentAction.IMPORTED)
    event(cat, ConsentSource.API, days_ago=0)

    first = Send.objects.create(page=campaign, revision_id=campaign.live_revision_id, state=SendState.SENT)
    second = Send.objects.create(page=campaign, revision_id=campaign.live_revision_id, state=SendState.SENT)
    received(ada, send=first, days_ago=3)
    received(ada, send=second, days_ago=1)
    received(bob, send=first, days_ago=30)
    received(cat, send=first, days_ago=1, state=DeliveryState.FAILED)  # not received
    return People(ada=ada, bob=bob, cat=cat, offers=offers, campaign_id=campaign.pk)
