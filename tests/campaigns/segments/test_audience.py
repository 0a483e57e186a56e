"""A campaign's audience with a segment: topics, then the segment, then consent, suppression and the frequency cap,
always last; the segment frozen on the send; the snapshot still chunked and idempotent."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from campaigns.models import Delivery, DeliveryState, Send, SendState
from campaigns.segments.errors import SegmentError
from campaigns.segments.services import segment_create, segment_delete, segment_update
from campaigns.sending.audience import audience_snapshot, audience_summary
from campaigns.sending.services import send_audience_continue, send_create, send_start
from subscribers.models import (
    AttributeType,
    ErasureSource,
    Subscriber,
    SubscriptionStatus,
    SuppressionReason,
    SuppressionScope,
    Topic,
    User,
)
from subscribers.services import suppression_add
from subscribers.services.erasure import subscriber_erase
from tests.campaigns.segments.conftest import attribute, received, value
from tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

WANTED = {"all": [{"field": "attribute:wanted", "op": "equals", "value": True}]}


def person(name: str, *, wanted: bool | None = True, status=SubscriptionStatus.ACTIVE) -> Subscriber:
    """Someone on General with ``status``, whose ``wanted`` attribute is set as given."""
    subscriber = SubscriberFactory(first_name=name, email=f"{name.lower()}@mail.example")
    SubscriptionFactory(subscriber=subscriber, topic=Topic.objects.get(is_default=True), status=status)
    if wanted is not None:
        value(subscriber, attribute_wanted(), boolean=wanted)
    return subscriber


def attribute_wanted():
    from subscribers.models import Attribute

    return Attribute.objects.filter(key="wanted").first() or attribute("wanted", AttributeType.BOOLEAN)


def with_segment(campaign, definition, name="Wanted"):
    segment = segment_create(name=name, definition=definition)
    campaign.segment = segment
    campaign.save_revision().publish()
    campaign.refresh_from_db()
    return segment


def recipients(send: Send) -> set[str]:
    return set(send.deliveries.values_list("subscriber__first_name", flat=True))


def test_the_audience_is_the_people_on_the_topics_whom_the_segment_selects(campaign):
    for name in ("Ada", "Bea"):
        person(name)
    person("Cy", wanted=False)
    person("Di", wanted=None)
    off_topic = SubscriberFactory(first_name="Eve")  # wanted, but on no topic of the campaign
    value(off_topic, attribute_wanted(), boolean=True)
    SubscriptionFactory(subscriber=off_topic, topic=Topic.objects.create(name="Offers", slug="offers"))
    with_segment(campaign, WANTED)

    send = send_start(send=send_create(page=campaign))

    assert recipients(send) == {"Ada", "Bea"} and send.total == 2
    assert send.segment_definition == WANTED and send.segment_name == "Wanted"


def test_nobody_unsubscribed_pending_suppressed_or_erased_enters_whatever_the_segment_says(campaign):
    person("Ada")
    person("Pen", status=SubscriptionStatus.PENDING)
    person("Uns", status=SubscriptionStatus.UNSUBSCRIBED)
    bounced, complained, everything = person("Bou"), person("Com"), person("All")
    suppression_add(email=bounced.email, scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)
    suppression_add(email=complained.email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.COMPLAINT)
    suppression_add(email=everything.email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED)
    # Erased, then their address put back on the list by a path that skipped the services (a bad script, say):
    # the tombstone keeps them out.
    subscriber_erase(subscriber=person("Era"), source=ErasureSource.STAFF)
    person("Era")
    # A segment that names each of them explicitly.
    names = ["Ada", "Pen", "Uns", "Bou", "Com", "All", "Era"]
    with_segment(campaign, {"any": [{"field": "signed_up", "op": "within_days", "value": 1}, WANTED]})
    assert set(Subscriber.objects.values_list("first_name", flat=True)) == set(names)

    summary = audience_summary(topic_ids=[campaign.topics.get().pk], segment_definition=campaign.segment.definition)
    send = send_start(send=send_create(page=campaign))

    assert recipients(send) == {"Ada"}
    assert summary["on_topics"] == summary["in_segment"] == 7 and summary["eligible"] == 1
    assert {reason: n for reason, n in summary["excluded"].items() if n} == {
        "pending confirmation": 1,
        "unsubscribed": 1,
        "bounced": 1,
        "complained": 1,
        "unsubscribed from everything": 1,
        "erased": 1,
    }
    assert summary["eligible"] + sum(summary["excluded"].values()) == summary["in_segment"]


def test_the_summary_counts_the_people_on_the_topics_then_those_in_the_segment(campaign):
    person("Ada")
    person("Bea", wanted=False)
    person("Cy", wanted=False, status=SubscriptionStatus.PENDING)
    person("Di", status=SubscriptionStatus.PENDING)

    summary = audience_summary(topic_ids=[campaign.topics.get().pk], segment_definition=WANTED)

    assert (summary["on_topics"], summary["in_segment"], summary["eligible"]) == (4, 2, 1)
    assert summary["excluded"]["pending confirmation"] == 1  # Di; Cy is not in the segment
    assert audience_summary(topic_ids=[campaign.topics.get().pk])["in_segment"] == 4


def test_a_segment_changed_after_the_send_started_does_not_change_the_rest_of_its_audience(campaign, settings):
    settings.SEND_SNAPSHOT_CHUNK = 2
    wanted = [person(name) for name in ("Ada", "Bea", "Cy", "Di", "Eve")]
    person("Fay", wanted=False)
    segment = with_segment(campaign, WANTED)
    send = send_start(send=send_create(page=campaign))
    assert not send.audience_complete and send.total == 2  # the first chunk only; the rest comes after commit

    # Given the segment now says the opposite
    segment_update(segment=segment, definition={"none": WANTED["all"]})
    # When the rest of the audience is written
    send_audience_continue(send_id=send.pk)

    send.refresh_from_db()
    assert send.audience_complete and recipients(send) == {s.first_name for s in wanted}
    assert send.segment_definition == WANTED
    # The send page shows the copy it used, and says the segment has changed since
    client = _staff_client()
    html = client.get(reverse("campaigns_admin:send_progress", args=[send.pk])).content.decode()
    assert "Segment: Wanted" in html and "has been changed since" in html and "wanted equals true" in html


def test_the_snapshot_with_a_segment_is_chunked_and_writing_a_chunk_twice_writes_nothing_twice(campaign):
    people = [person(f"P{i}", wanted=i % 3 != 0) for i in range(10)]
    send = Send.objects.create(page=campaign, revision_id=campaign.live_revision_id, state=SendState.SENDING)
    general = [campaign.topics.get().pk]

    written, cursor, chunks = 0, 0, 0
    while True:
        chunk = {"send_id": send.pk, "topic_ids": general, "after": cursor, "size": 4, "segment_definition": WANTED}
        rows, end = audience_snapshot(**chunk)
        again, _ = audience_snapshot(**chunk)
        assert again == 0
        written, chunks = written + rows, chunks + 1
        if end is None:
            break
        cursor = end

    expected = {p.pk for i, p in enumerate(people) if i % 3 != 0}
    assert chunks == 3 and written == len(expected) == 6
    assert set(send.deliveries.values_list("subscriber_id", flat=True)) == expected


def test_the_frequency_cap_holds_back_people_mailed_enough_already_counting_sends_under_way(campaign, settings):
    settings.SEND_FREQUENCY_CAP = "2/7"
    ada, bob, cy, di = (person(name) for name in ("Ada", "Bob", "Cy", "Di"))
    earlier = Send.objects.create(page=campaign, revision_id=campaign.live_revision_id, state=SendState.SENT)
    running = Send.objects.create(page=campaign, revision_id=campaign.live_revision_id, state=SendState.SENDING)
    other = Send.objects.create(page=campaign, revision_id=campaign.live_revision_id, state=SendState.SENT)
    received(ada, send=earlier, days_ago=2)
    received(ada, send=other, days_ago=6)  # two this week: held back
    received(bob, send=earlier, days_ago=2)
    received(bob, send=other, days_ago=8)  # one this week: receives it
    received(cy, send=earlier, days_ago=1)
    Delivery.objects.create(send=running, subscriber=cy, state=DeliveryState.QUEUED)  # about to get a second
    received(di, send=earlier, days_ago=1, state=DeliveryState.FAILED)  # a failure is not a campaign received

    summary = audience_summary(topic_ids=[campaign.topics.get().pk])
    running.state = SendState.SENT
    running.save()
    send = send_start(send=send_create(page=campaign))

    assert summary["excluded"]["frequency cap: had 2 in 7 days"] == 2 and summary["eligible"] == 2
    assert recipients(send) == {"Bob", "Cy", "Di"}  # Cy's queued row no longer counts once that send is over


def test_the_frequency_cap_setting_is_refused_unless_it_is_campaigns_per_days(campaign, settings):
    settings.SEND_FREQUENCY_CAP = "2 a week"

    with pytest.raises(ImproperlyConfigured, match="SEND_FREQUENCY_CAP is campaigns/days, such as 2/7"):
        audience_summary(topic_ids=[campaign.topics.get().pk])


def test_a_segment_a_campaign_uses_cannot_be_deleted(campaign):
    attribute_wanted()
    segment = with_segment(campaign, WANTED)

    with pytest.raises(SegmentError, match="used by Spring news"):
        segment_delete(segment=segment)
    assert segment.__class__.objects.filter(pk=segment.pk).exists()


def test_the_send_page_explains_the_count_from_the_topics_to_the_segment_to_who_is_left_out(campaign):
    person("Ada")
    person("Bea", wanted=False)
    bounced = person("Bou")
    suppression_add(email=bounced.email, scope=SuppressionScope.ALL, reason=SuppressionReason.BOUNCE)
    with_segment(campaign, WANTED)

    html = _staff_client().get(reverse("campaigns_admin:send", args=[campaign.pk])).content.decode()

    assert 'data-funnel="on_topics" data-count="3"' in html
    assert 'data-funnel="in_segment" data-count="2"' in html and "in the segment <strong>Wanted</strong>" in html
    assert 'data-excluded-reason="bounced" data-count="1"' in html
    assert 'data-audience-eligible="1"' in html


def _staff_client():
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_superuser(email="staff@larkspur-lune.example", password="unused"))
    return client
