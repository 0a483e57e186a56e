"""Reading campaigns and sends through the API (``campaigns:read``): campaign pages, sends with their live progress,
and results under the report's privacy floor. Sends are made by the sending services and the worker, against the
suite's SES endpoint."""

import json

import pytest
from django.utils import timezone

from campaigns.authoring.demo_content import demo_campaign
from campaigns.models import CampaignPage, Delivery, SendState
from campaigns.sending import selectors
from campaigns.sending.services import send_create, send_now, send_pause
from campaigns.sending.worker import send_work
from subscribers.models import ConsentSource, Topic
from subscribers.services.subscriptions import subscription_withdraw
from tests.factories import SubscriptionFactory

from .conftest import client_for, error_of

pytestmark = pytest.mark.django_db

READ_PATHS = (
    "/api/v1/campaigns/",
    "/api/v1/campaigns/{campaign}/",
    "/api/v1/campaigns/{campaign}/sends/",
    "/api/v1/sends/",
    "/api/v1/sends/{send}/",
)


@pytest.fixture(autouse=True)
def _fast_rate(settings):
    settings.SES_MAX_SEND_RATE = 1000
    settings.REPORT_MIN_GROUP_SIZE = 5


@pytest.fixture
def campaign(settings, tmp_path):
    """The demo campaign (published, every block type, to General Subscription)."""
    settings.MEDIA_ROOT = tmp_path
    return CampaignPage.objects.get(pk=demo_campaign().pk)  # as published, read back


@pytest.fixture
def audience(campaign):
    """Eight who may be mailed."""
    general = Topic.objects.get(is_default=True)
    return [SubscriptionFactory(topic=general) for _ in range(8)]


@pytest.fixture
def reader(api_client):
    return api_client("campaigns:read")


def finished_send(campaign):
    """A send of the campaign that the worker has finished."""
    send = send_now(page=campaign)
    send_work(send_id=send.pk)
    send.refresh_from_db()
    assert send.state == SendState.SENT
    return send


# Scopes -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", READ_PATHS)
def test_every_read_endpoint_refuses_a_request_without_a_key_with_401(campaign, path):
    send = send_create(page=campaign)

    response = client_for(None).get(path.format(campaign=campaign.pk, send=send.pk))

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.parametrize("path", READ_PATHS)
@pytest.mark.parametrize("scopes", [("subscribers:read",), ("campaigns:send",)])
def test_every_read_endpoint_refuses_a_key_without_campaigns_read_with_403_naming_the_scope(
    campaign, api_client, path, scopes
):
    send = send_create(page=campaign)

    response = api_client(*scopes).get(path.format(campaign=campaign.pk, send=send.pk))

    assert response.status_code == 403
    assert "campaigns:read" in error_of(response)["message"]


@pytest.mark.parametrize("path", READ_PATHS)
def test_every_read_endpoint_answers_a_key_with_campaigns_read(campaign, reader, path):
    send = send_create(page=campaign)

    assert reader.get(path.format(campaign=campaign.pk, send=send.pk)).status_code == 200


# Campaigns --------------------------------------------------------------------------------------------------------


def test_a_campaign_is_read_with_its_subject_topic_slugs_status_last_publish_and_admin_page(
    campaign, reader, settings
):
    response = reader.get(f"/api/v1/campaigns/{campaign.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": campaign.pk,
        "title": "Winter collection",
        "subject": campaign.subject,
        "topics": ["general"],
        "status": "live",
        "has_unpublished_changes": False,
        "last_published_at": campaign.last_published_at.isoformat().replace("+00:00", "Z"),
        "admin_url": f"{settings.SITE_URL}/admin/pages/{campaign.pk}/edit/",
        "sends_url": f"{settings.SITE_URL}/api/v1/campaigns/{campaign.pk}/sends/",
    }


def test_an_unpublished_campaign_is_listed_as_a_draft(campaign, reader):
    campaign.unpublish()

    listed = reader.get("/api/v1/campaigns/").json()

    assert [(c["id"], c["status"]) for c in listed["results"]] == [(campaign.pk, "draft")]
    assert listed["next"] is None


def test_an_unknown_campaign_is_a_404_in_the_api_error_shape(campaign, reader):
    for path in (f"/api/v1/campaigns/{campaign.pk + 1000}/", f"/api/v1/campaigns/{campaign.pk + 1000}/sends/"):
        response = reader.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"


# Sends ------------------------------------------------------------------------------------------------------------


def test_the_sends_list_pages_by_cursor_newest_first_with_each_sends_progress(campaign, audience, reader):
    # Given a finished send and two drafts after it
    done = finished_send(campaign)
    drafts = [send_create(page=campaign) for _ in range(2)]

    # When the list is read two at a time
    first = reader.get("/api/v1/sends/?page_size=2").json()
    second = reader.get(first["next"]).json()

    # Then every send comes once, newest first, with the ledger's counts
    assert [s["id"] for s in first["results"] + second["results"]] == [drafts[1].pk, drafts[0].pk, done.pk]
    assert second["next"] is None
    finished = second["results"][0]
    assert finished["state"] == "sent" and finished["total"] == 8
    assert finished["campaign"] == {"id": campaign.pk, "title": "Winter collection"}
    assert finished["progress"] | {"rate": None, "eta_seconds": None} == {
        "queued": 0,
        "claimed": 0,
        "sent": 8,
        "failed": 0,
        "skipped": 0,
        "unknown": 0,
        "in_flight": 0,
        "done": 8,
        "remaining": 0,
        "percent": 100.0,
        "rate": None,
        "eta_seconds": None,
    }
    assert finished["url"].endswith(f"/api/v1/sends/{done.pk}/")


def test_sends_are_filtered_by_state_and_by_campaign(campaign, audience, reader):
    done = finished_send(campaign)
    draft = send_create(page=campaign)

    def ids(path):
        return [s["id"] for s in reader.get(path).json()["results"]]

    assert ids("/api/v1/sends/?state=sent") == [done.pk]
    assert ids("/api/v1/sends/?state=draft,sent") == [draft.pk, done.pk]
    assert ids(f"/api/v1/campaigns/{campaign.pk}/sends/?state=draft") == [draft.pk]
    assert ids("/api/v1/sends/?state=paused") == []


def test_an_unknown_state_in_the_filter_is_a_400_naming_the_field(campaign, reader):
    response = reader.get("/api/v1/sends/?state=sent,flying")

    assert response.status_code == 400
    error = error_of(response)
    assert list(error["fields"]) == ["state"]
    assert "flying" in error["fields"]["state"][0] and "sending" in error["fields"]["state"][0]


def test_a_send_gives_the_same_live_progress_as_the_admins_progress_page(campaign, audience, reader):
    # Given a send paused part way (the worker has not run: every row is queued)
    send = send_now(page=campaign)
    send_pause(send=send)

    body = reader.get(f"/api/v1/sends/{send.pk}/").json()

    admin = selectors.send_progress(send=send)
    assert body["state"] == "paused" and body["total"] == admin["total"] == 8
    assert body["progress"] == {name: admin[name] for name in body["progress"]}
    assert body["progress"]["queued"] == 8 and body["progress"]["percent"] == 0.0
    assert body["started_at"] == send.started_at.isoformat().replace("+00:00", "Z")
    assert body["pause_reason"] == "Paused by staff"


def test_results_give_counts_of_one_to_four_as_less_than_five_and_never_as_numbers(campaign, audience, reader):
    # Given a send to eight: six delivered, one hard bounce, one complaint
    send = finished_send(campaign)
    rows = list(Delivery.objects.filter(send=send).order_by("pk"))
    now = timezone.now()
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:6]]).update(delivered_at=now)
    Delivery.objects.filter(pk=rows[6].pk).update(bounce_type="permanent", bounced_at=now)
    Delivery.objects.filter(pk=rows[7].pk).update(complained_at=now)

    results = reader.get(f"/api/v1/sends/{send.pk}/").json()["results"]

    # Then groups of five or more are numbers, groups of one to four are "<5" with no number, zero is zero
    counts = results["counts"]
    assert counts["sent"] == {"count": 8, "shown": "8"}
    assert counts["delivered"] == {"count": 6, "shown": "6"}
    assert counts["hard_bounced"] == counts["bounced"] == counts["complained"] == {"count": None, "shown": "<5"}
    assert counts["soft_bounced"] == counts["unsubscribed"] == {"count": 0, "shown": "0"}
    assert results["min_group_size"] == 5
    # Rates: shown with a number, or hidden with none, and why
    assert results["rates"]["delivered"] == {"percent": 75.0, "shown": "75.0%", "hidden": False, "why": ""}
    bounced = results["rates"]["bounced"]
    assert bounced["percent"] is None and bounced["hidden"] is True and "fewer than 5 people" in bounced["why"]
    # Clicks per link, none yet; opens were not counted for this campaign
    assert results["links"] and all(link["clicks"] == {"count": 0, "shown": "0"} for link in results["links"])
    assert results["clicks"] == {"count": 0, "shown": "0"} and results["opens"] is None


def test_a_links_clicks_of_one_to_four_are_hidden_too(campaign, audience, reader):
    send = finished_send(campaign)
    send.links.filter(position=1).update(clicks=3)
    send.links.filter(position=2).update(clicks=12)

    results = reader.get(f"/api/v1/sends/{send.pk}/").json()["results"]

    links = {link["position"]: link["clicks"] for link in results["links"]}

    assert links[1] == {"count": None, "shown": "<5"}
    assert links[2] == {"count": 12, "shown": "12"}


def test_no_hidden_count_can_be_worked_out_by_subtraction_from_the_rest_of_the_answer(campaign, reader):
    # Given twelve recipients, two of whom unsubscribe before their message: their rows are skipped
    general = Topic.objects.get(is_default=True)
    people = [SubscriptionFactory(topic=general) for _ in range(12)]
    send = send_now(page=campaign)
    for subscription in people[:2]:
        subscription_withdraw(subscription=subscription, source=ConsentSource.PREFERENCE_CENTRE)
    send_work(send_id=send.pk)
    # ten accepted: five hard bounces, two soft; one link clicked 3 times, another 12
    rows = list(Delivery.objects.filter(send=send, state="sent").order_by("pk"))
    now = timezone.now()
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:5]]).update(bounce_type="permanent", bounced_at=now)
    Delivery.objects.filter(pk__in=[r.pk for r in rows[5:7]]).update(bounce_type="transient", bounced_at=now)
    send.links.filter(position=1).update(clicks=3)
    send.links.filter(position=2).update(clicks=12)

    body = reader.get(f"/api/v1/sends/{send.pk}/").json()
    progress, results = body["progress"], body["results"]

    # Then the skipped two are hidden everywhere, and so is one more outcome, so that the total does not give them
    assert progress["skipped"] is None and results["counts"]["skipped"] == {"count": None, "shown": "<5"}
    assert progress["failed"] is None and results["counts"]["failed"] == {"count": None, "shown": "hidden"}
    assert progress["unknown"] == 0 and results["counts"]["unknown"] == {"count": 0, "shown": "0"}
    assert progress["sent"] == 10 and body["total"] == 12
    # bounced - hard_bounced would be the hidden soft bounces: bounced and its rate are withheld
    counts = results["counts"]
    assert counts["soft_bounced"] == {"count": None, "shown": "<5"} and counts["hard_bounced"]["count"] == 5
    assert counts["bounced"] == {"count": None, "shown": "hidden"}
    bounced_rate = results["rates"]["bounced"]
    assert bounced_rate["percent"] is None and bounced_rate["hidden"] and "subtraction" in bounced_rate["why"]
    # all clicks - the links shown would be the hidden link's clicks: the total is withheld
    assert results["clicks"] == {"count": None, "shown": "hidden"}
    assert {link["position"]: link["clicks"]["count"] for link in results["links"]}[2] == 12
    listed = next(s for s in reader.get("/api/v1/sends/").json()["results"] if s["id"] == send.pk)
    assert listed["progress"]["skipped"] is None and listed["progress"]["failed"] is None


def test_a_send_never_names_or_identifies_a_recipient(campaign, audience, reader):
    send = finished_send(campaign)

    text = json.dumps([reader.get(f"/api/v1/sends/{send.pk}/").json(), reader.get("/api/v1/sends/").json()])

    for subscription in audience:
        subscriber = subscription.subscriber
        assert subscriber.email not in text
        assert str(subscriber.public_id) not in text
    assert "subscriber" not in text and "email" not in text
