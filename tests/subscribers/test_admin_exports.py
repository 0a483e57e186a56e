"""The marketing team's CSV of a topic's subscribers: that topic only, every status, formula-safe cells."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from subscribers.models import SubscriptionStatus
from tests.factories import SubscriberFactory, SubscriptionFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db


def download(client, topic) -> tuple[int, list[list[str]]]:
    response = client.get(f"/admin/topic-exports/{topic.pk}/subscribers.csv")
    if response.status_code != 200:
        return response.status_code, [response.get("Location", "")]
    body = b"".join(response.streaming_content).decode()
    return 200, list(csv.reader(io.StringIO(body)))


def test_a_topic_exports_its_subscribers_with_formula_cells_defused():
    topic, other = TopicFactory(name="Private Sales", slug="private-sales"), TopicFactory()
    SubscriptionFactory(topic=topic, subscriber=SubscriberFactory(email="b@mail.example", first_name="=HYPERLINK(1)"))
    SubscriptionFactory(
        topic=topic, subscriber=SubscriberFactory(email="a@mail.example"), status=SubscriptionStatus.UNSUBSCRIBED
    )
    SubscriptionFactory(topic=topic, subscriber=SubscriberFactory(email="-offers@mail.example"))
    SubscriptionFactory(topic=topic, subscriber=SubscriberFactory(email="-cmd|'/c_calc'!a0@mail.example"))
    SubscriptionFactory(topic=other, subscriber=SubscriberFactory(email="elsewhere@mail.example"))
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    status, rows = download(client, topic)

    assert status == 200
    assert rows[0] == [
        "email",
        "first_name",
        "status",
        "lawful_basis",
        "requested_at",
        "confirmed_at",
        "unsubscribed_at",
    ]
    emails = [row[0] for row in rows[1:]]
    assert emails == ["'-cmd|'/c_calc'!a0@mail.example", "-offers@mail.example", "a@mail.example", "b@mail.example"]
    assert rows[3][2] == "unsubscribed"
    assert rows[4][1] == "'=HYPERLINK(1)"


def test_only_staff_who_may_view_subscriptions_can_download():
    topic = TopicFactory()
    client = Client()
    plain_staff = UserFactory(is_staff=True)
    plain_staff.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client.force_login(plain_staff)

    assert download(client, topic) == (302, ["/admin/"]), "Wagtail's refusal"

    plain_staff.user_permissions.add(Permission.objects.get(codename="view_subscription"))
    assert download(client, topic)[0] == 200
