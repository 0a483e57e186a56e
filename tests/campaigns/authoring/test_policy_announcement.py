"""Announcing a privacy policy change by email: a draft campaign from the version's admin page, addressed to every
active subscriber once, sent through the normal pipeline."""

import pytest
from django.urls import reverse

from campaigns.authoring.policy_announcement import policy_announcement_draft_create
from campaigns.errors import CampaignError
from campaigns.models import CampaignPage, Delivery, DeliveryState
from campaigns.sending.audience import audience_summary
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from subscribers.models import ErasureSource, SubscriptionStatus, SuppressionReason, SuppressionScope, Topic
from subscribers.services import privacy_policy_publish, suppression_add
from subscribers.services.erasure import subscriber_erase
from tests.factories import ConfirmedSubscriberFactory, SubscriptionFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db

SUMMARY = "We now keep order history for six years, and explain why."


@pytest.fixture
def version():
    return privacy_policy_publish(version="2.0", text="Larkspur & Lune policy, second edition.", summary=SUMMARY)


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(email="editor@larkspur-lune.example", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def people(campaign):
    """Who should and should not receive the announcement, across three topics (one of them retired)."""
    general = Topic.objects.get(is_default=True)
    sales, retired = TopicFactory(name="Private Sales"), TopicFactory(name="Old list", is_active=False)
    on_two = ConfirmedSubscriberFactory(email="two.topics@mail.example")
    SubscriptionFactory(subscriber=on_two, topic=general)
    SubscriptionFactory(subscriber=on_two, topic=sales)
    only_sales = SubscriptionFactory(topic=sales).subscriber
    only_retired = SubscriptionFactory(topic=retired).subscriber
    unsubscribed = SubscriptionFactory(topic=general, status=SubscriptionStatus.UNSUBSCRIBED).subscriber
    pending = SubscriptionFactory(topic=sales, status=SubscriptionStatus.PENDING).subscriber
    suppressed = SubscriptionFactory(topic=general).subscriber
    suppression_add(email=suppressed.email, scope=SuppressionScope.MARKETING, reason=SuppressionReason.COMPLAINT)
    erased = SubscriptionFactory(topic=sales).subscriber
    subscriber_erase(subscriber=erased, source=ErasureSource.STAFF)
    return {
        "receive": {on_two.pk, only_sales.pk},
        "left_out": {only_retired.pk, unsubscribed.pk, pending.pk, suppressed.pk},
        "active_topics": {general.pk, sales.pk},
    }


def test_the_draft_names_what_changed_links_to_the_version_and_addresses_every_active_topic(campaign, version, people):
    page, created = policy_announcement_draft_create(version=version)

    assert created and not page.live and page.has_unpublished_changes
    assert set(page.topics.values_list("pk", flat=True)) == people["active_topics"]
    assert page.subject == "We have updated our privacy policy (version 2.0)"
    body = str(page.body)
    assert SUMMARY in body and "Version 2.0 of our privacy policy has been in force since" in body
    button = next(block for block in page.body if block.block_type == "button")
    assert button.value["link"].endswith("/privacy/2.0/")
    assert page.get_parent().specific_class.__name__ == "CampaignIndexPage"


def test_a_second_request_returns_the_same_draft(campaign, version):
    first, _ = policy_announcement_draft_create(version=version)

    again, created = policy_announcement_draft_create(version=version)

    assert (again.pk, created) == (first.pk, False)
    assert CampaignPage.objects.filter(title__startswith="Privacy policy 2.0").count() == 1


def test_a_superseded_version_cannot_be_announced(campaign, version):
    privacy_policy_publish(version="3.0", text="Third edition.", summary="Third.")

    with pytest.raises(CampaignError, match="no longer in force"):
        policy_announcement_draft_create(version=version)
    assert not CampaignPage.objects.filter(slug="privacy-policy-2-0").exists()


def test_the_audience_is_every_active_subscriber_once_and_nobody_unsubscribed_suppressed_or_erased(
    campaign, version, people, settings, outbox
):
    # Given the draft, reviewed and published by staff
    settings.SES_MAX_SEND_RATE = 1000
    page, _ = policy_announcement_draft_create(version=version)
    page.save_revision().publish()
    topic_ids = [t.pk for t in page.topics.all()]

    # The confirmation step counts each person once
    assert audience_summary(topic_ids=topic_ids)["eligible"] == len(people["receive"])

    # When it is sent through the normal pipeline
    send = send_start(send=send_create(page=CampaignPage.objects.get(pk=page.pk)))
    send_work(send_id=send.pk)

    # Then one delivery per person, the one on two topics included once, and nobody left out is on the ledger
    rows = list(Delivery.objects.filter(send=send).values_list("subscriber_id", "state"))
    assert sorted(sid for sid, _ in rows) == sorted(people["receive"])
    assert {state for _, state in rows} == {DeliveryState.SENT}
    message = outbox.last_to("two.topics@mail.example")
    assert len(outbox.to("two.topics@mail.example")) == 1
    assert "/privacy/2.0/" in message.text and SUMMARY in message.text
    assert "unsubscribe" in message.text.lower()  # the usual footer stays


def test_staff_see_the_button_on_the_version_page_and_it_opens_the_draft_in_the_editor(
    campaign, version, staff_client
):
    inspect = staff_client.get(reverse("privacy_policy_versions:inspect", args=[version.pk])).content.decode()
    action = reverse("campaigns_admin:policy_announcement", args=[version.pk])
    assert f'action="{action}"' in inspect and "Announce this change by email" in inspect

    response = staff_client.post(action)

    page = CampaignPage.objects.get(slug="privacy-policy-2-0")
    assert response.status_code == 302 and response.url == reverse("wagtailadmin_pages:edit", args=[page.pk])
    assert staff_client.get(action).status_code == 405  # a GET changes nothing


def test_the_button_is_not_offered_for_a_superseded_version_nor_to_staff_who_cannot_draft_campaigns(
    campaign, version, client
):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"),
        Permission.objects.get(content_type__app_label="subscribers", codename="view_privacypolicyversion"),
    )
    client.force_login(viewer)
    url = reverse("privacy_policy_versions:inspect", args=[version.pk])
    assert "Announce this change by email" not in client.get(url).content.decode()
    assert client.post(reverse("campaigns_admin:policy_announcement", args=[version.pk])).status_code in (302, 403)
    assert not CampaignPage.objects.filter(slug="privacy-policy-2-0").exists()

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert "Announce this change by email" in client.get(url).content.decode()
    privacy_policy_publish(version="3.0", text="Third edition.", summary="Third.")
    assert "Announce this change by email" not in client.get(url).content.decode()
