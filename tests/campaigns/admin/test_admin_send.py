"""The "Send" admin views: the confirmation step, send now, schedule, live progress, pause / resume / cancel."""

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignPage, Delivery, DeliveryState, Send, SendAction, SendEvent, SendState
from campaigns.sending.services import send_create, send_start, sends_sweep
from subscribers.models import Subscriber, SubscriptionStatus, Topic, User
from tests.campaigns.admin.conftest import EDITOR_EMAIL
from tests.factories import EDITORS, SubscriptionFactory

pytestmark = pytest.mark.django_db


def send_url(page: CampaignPage) -> str:
    return reverse("campaigns_admin:send", args=[page.pk])


def progress_url(send: Send) -> str:
    return reverse("campaigns_admin:send_progress", args=[send.pk])


def seen_send_id(client, page: CampaignPage) -> int:
    return client.get(send_url(page)).context["seen_send_id"]


def post_send_now(client, page: CampaignPage, *, seen: int, **kwargs):
    return client.post(send_url(page), {"action": "send_now", "seen_send_id": seen}, **kwargs)


def post_schedule(client, page: CampaignPage, *, when: str, seen: int = 0, **kwargs):
    return client.post(send_url(page), {"action": "schedule", "seen_send_id": seen, "scheduled_for": when}, **kwargs)


def local_text(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def test_page_editor_and_explorer_link_to_send(campaign, editor_client):
    edit = editor_client.get(reverse("wagtailadmin_pages:edit", args=[campaign.pk])).content.decode()
    assert f'href="{send_url(campaign)}"' in edit

    listing = editor_client.get(reverse("wagtailadmin_explore", args=[campaign.get_parent().pk])).content.decode()
    assert f'href="{send_url(campaign)}"' in listing


def test_confirmation_shows_who_receives_it_and_who_is_left_out_and_why(campaign, audience, editor_client):
    response = editor_client.get(send_url(campaign))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-audience-eligible="4"' in html
    assert "General Subscription" in html
    for reason, count in {"pending confirmation": 2, "unsubscribed": 1, "bounced": 1, "complained": 1}.items():
        assert f'data-excluded-reason="{reason}" data-count="{count}"' in html
    assert "Left out: 5" in html
    assert html.count('data-check="passed"') == 7
    assert "Send to 4 now" in html
    assert "disabled" not in html.split("data-send-now-form")[1].split("</form>")[0]
    assert not any(s.subscriber.email in html for s in audience), "counts only, no addresses"


def _send_button(html: str) -> str:
    return html.split("data-send-now-form")[1].split("</form>")[0]


def test_a_large_audience_is_counted_in_the_background_and_shown_with_its_age(
    campaign, audience, editor_client, settings, django_capture_on_commit_callbacks
):
    # Given topics with more subscriptions than the page counts while it loads
    settings.AUDIENCE_COUNT_INLINE_MAX = 3

    # When the send page is opened: no count yet, one is started, and nothing can be sent until it is there
    with django_capture_on_commit_callbacks() as started:
        html = editor_client.get(send_url(campaign)).content.decode()
    assert "Counting the audience of about 9 subscriptions" in html and "data-reload-seconds" in html
    assert "disabled" in _send_button(html)
    assert len(started) == 1
    with django_capture_on_commit_callbacks() as again:
        editor_client.get(send_url(campaign))
    assert not again, "one count of an audience at a time"

    # And when the count has run (the task, on the default queue; here in this process)
    started[0]()
    html = editor_client.get(send_url(campaign)).content.decode()

    # Then the page shows it, how fresh it is, and a way to count again
    assert 'data-audience-eligible="4"' in html and "Send to 4 now" in html
    assert "Counted 0 seconds ago" in html and "data-audience-recount" in html
    assert 'data-excluded-reason="pending confirmation" data-count="2"' in html
    assert "disabled" not in _send_button(html)


def test_an_old_count_is_shown_while_a_new_one_runs_and_a_recount_can_be_asked_for(
    campaign, audience, editor_client, settings, django_capture_on_commit_callbacks
):
    settings.AUDIENCE_COUNT_INLINE_MAX = 3
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.get(send_url(campaign))  # counted (the test settings run tasks at once)
    SubscriptionFactory(topic=Topic.objects.get(is_default=True))

    # Fresh: the kept count is shown as it is, and nothing is counted again
    with django_capture_on_commit_callbacks() as none:
        html = editor_client.get(send_url(campaign)).content.decode()
    assert not none and "Send to 4 now" in html

    # Asked for again: counted again
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.get(send_url(campaign) + "?recount=1")
    assert "Send to 5 now" in editor_client.get(send_url(campaign)).content.decode()

    # Older than the freshness allowed: shown, said to be counted again, and counted again
    settings.AUDIENCE_COUNT_FRESH_SECONDS = 0
    SubscriptionFactory(topic=Topic.objects.get(is_default=True))
    with django_capture_on_commit_callbacks() as recount:
        html = editor_client.get(send_url(campaign)).content.decode()
    assert "Send to 5 now" in html and "counting again now" in html and len(recount) == 1


def test_confirmation_of_a_campaign_failing_its_checks_offers_no_send_and_a_post_sends_nothing(
    campaign, audience, editor_client, django_capture_on_commit_callbacks
):
    # Given a published campaign whose subject is empty for readers without a first name
    campaign.subject = "{{ first_name }}"
    campaign.save_revision().publish()

    html = editor_client.get(send_url(campaign)).content.decode()
    assert "cannot be sent until every check passes" in html
    assert "disabled" in html.split("data-send-now-form")[1].split("</form>")[0]

    # When the form is posted anyway, then it says why and leaves no send behind
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_send_now(editor_client, campaign, seen=0, follow=True)
    assert "The campaign was not sent. The campaign does not pass its checks: Subject." in response.content.decode()
    assert not Send.objects.exists() and callbacks == []


def test_an_unpublished_campaign_cannot_be_sent(campaign, audience, editor_client):
    campaign.unpublish()

    html = editor_client.get(send_url(campaign)).content.decode()
    assert "This campaign is not published" in html
    assert "data-send-now-form" not in html

    response = post_send_now(editor_client, campaign, seen=0, follow=True)
    assert "Publish the campaign before sending it." in response.content.decode()
    assert not Send.objects.exists()


def test_send_now_starts_the_send_and_opens_its_progress(
    campaign, audience, editor_client, django_capture_on_commit_callbacks
):
    seen = seen_send_id(editor_client, campaign)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_send_now(editor_client, campaign, seen=seen)

    send = Send.objects.get()
    campaign.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == progress_url(send)
    assert send.state == SendState.SENDING and send.total == 4 and send.revision == campaign.live_revision
    assert send.created_by.email == EDITOR_EMAIL
    assert len(callbacks) == 1, "workers are woken after commit"
    page = editor_client.get(response["Location"]).content.decode()
    assert "Sending to 4 subscribers." in page


def test_send_now_posted_twice_starts_exactly_one_send_and_says_so(
    campaign, audience, editor_client, django_capture_on_commit_callbacks
):
    # Given the confirmation page, shown once
    seen = seen_send_id(editor_client, campaign)

    # When its "Send now" is posted twice (a double click)
    with django_capture_on_commit_callbacks(execute=False):
        first = post_send_now(editor_client, campaign, seen=seen)
        second = post_send_now(editor_client, campaign, seen=seen, follow=True)

    # Then one send started, and the second click lands on its progress with a clear message
    send = Send.objects.get()
    assert first["Location"] == progress_url(send)
    assert second.redirect_chain == [(progress_url(send), 302)]
    assert "Nothing new was sent." in second.content.decode()
    assert Delivery.objects.count() == 4

    # And even once that send has finished, the same confirmation cannot start another
    Send.objects.filter(pk=send.pk).update(state=SendState.SENT, finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False):
        again = post_send_now(editor_client, campaign, seen=seen, follow=True)
    assert "sent or scheduled after this confirmation was shown" in again.content.decode()
    assert Send.objects.count() == 1


def test_a_campaign_sent_before_can_be_sent_again_from_a_fresh_confirmation_which_warns(
    campaign, audience, editor_client, django_capture_on_commit_callbacks
):
    earlier = send_start(send=send_create(page=campaign))
    Send.objects.filter(pk=earlier.pk).update(state=SendState.SENT, finished_at=timezone.now())

    response = editor_client.get(send_url(campaign))
    assert "Sending it again mails everyone below again." in response.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        post_send_now(editor_client, campaign, seen=response.context["seen_send_id"])

    assert Send.objects.filter(state=SendState.SENDING).count() == 1


def test_schedule_creates_a_scheduled_send_that_the_sweeper_starts_when_due(
    campaign, audience, editor_client, django_capture_on_commit_callbacks
):
    when = timezone.now() + timedelta(days=1)

    response = post_schedule(editor_client, campaign, when=local_text(when), follow=True)

    send = Send.objects.get()
    assert send.state == SendState.SCHEDULED
    assert local_text(send.scheduled_for) == local_text(when)
    assert not send.deliveries.exists(), "the audience is snapshotted when it starts, not now"
    assert response.redirect_chain == [(progress_url(send), 302)]
    assert "Scheduled for" in response.content.decode()
    assert "data-send-now-form" in editor_client.get(send_url(campaign)).content.decode()

    # When the time comes, the beat task's sweep starts it
    Send.objects.filter(pk=send.pk).update(scheduled_for=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=False):
        sends_sweep()
    send.refresh_from_db()
    assert send.started_at and send.total == 4
    assert send.state in (SendState.SENDING, SendState.SENT)  # the sweep also wakes a worker (inline in tests)


def test_schedule_refuses_a_time_in_the_past_and_creates_nothing(campaign, audience, editor_client):
    response = post_schedule(editor_client, campaign, when=local_text(timezone.now() - timedelta(minutes=5)))

    assert response.status_code == 200
    html = response.content.decode()
    assert "The campaign was not scheduled." in html
    assert "Choose a time in the future." in html
    assert response.context["schedule_form"].errors["scheduled_for"] == ["Choose a time in the future."]
    assert not Send.objects.exists()


def test_a_scheduled_campaign_cannot_be_scheduled_or_sent_again_until_that_is_cancelled(
    campaign, audience, editor_client, django_capture_on_commit_callbacks
):
    post_schedule(editor_client, campaign, when=local_text(timezone.now() + timedelta(hours=2)))
    seen = 0  # a confirmation page opened before the schedule

    second = post_schedule(editor_client, campaign, when=local_text(timezone.now() + timedelta(hours=3)), follow=True)
    with django_capture_on_commit_callbacks(execute=False):
        now = post_send_now(editor_client, campaign, seen=seen, follow=True)
    fresh = editor_client.get(send_url(campaign)).content.decode()

    assert Send.objects.count() == 1
    assert "Nothing new was sent." in second.content.decode()
    assert "Nothing new was sent." in now.content.decode()
    assert "This campaign is scheduled to send on" in fresh
    assert "disabled" in fresh.split("data-send-now-form")[1].split("</form>")[0]


def subject_shown(html: str) -> tuple[str, list[str]]:
    """The subject as written and its samples, from a page's header."""
    source = re.search(r"<strong data-subject-source>(.*?)</strong>", html).group(1)
    return source, re.findall(r"<strong data-subject-sample>(.*?)</strong>", html)


def test_the_send_progress_and_report_pages_show_the_subject_as_recipients_receive_it(
    campaign, audience, editor_client
):
    written = "{{ first_name|Hello }}, the winter collection is here"
    samples = ["Ada, the winter collection is here", "Hello, the winter collection is here"]

    confirm = editor_client.get(send_url(campaign)).content.decode()
    send = send_start(send=send_create(page=campaign))
    progress = editor_client.get(progress_url(send)).content.decode()
    report = editor_client.get(reverse("campaigns_admin:send_report", args=[send.pk])).content.decode()

    for html in (confirm, progress, report):
        assert subject_shown(html) == (written, samples)
        assert "by a subscriber with no first name" in html


def test_a_scheduled_send_shows_the_subject_samples_of_the_revision_it_will_send(campaign, audience, editor_client):
    # Given a send scheduled (not yet rendered), then the campaign's subject changed and published
    post_schedule(editor_client, campaign, when=local_text(timezone.now() + timedelta(days=1)), seen=0)
    send = Send.objects.get()
    campaign.subject = "Last call, {{ first_name|friend }}"
    campaign.save_revision().publish()

    html = editor_client.get(progress_url(send)).content.decode()

    assert send.subject_source == ""
    assert subject_shown(html) == (
        "{{ first_name|Hello }}, the winter collection is here",
        ["Ada, the winter collection is here", "Hello, the winter collection is here"],
    )


def test_progress_json_counts_every_outcome_the_rate_and_the_eta(campaign, audience, editor_client):
    # Given a send of four rows: two sent (one just now), one failed, one still queued
    send = send_start(send=send_create(page=campaign))
    ids = list(send.deliveries.order_by("id").values_list("id", flat=True))
    now = timezone.now()
    Delivery.objects.filter(pk=ids[0]).update(state=DeliveryState.SENT, finished_at=now - timedelta(minutes=5))
    Delivery.objects.filter(pk=ids[1]).update(state=DeliveryState.SENT, finished_at=now)
    Delivery.objects.filter(pk=ids[2]).update(state=DeliveryState.FAILED, finished_at=now, reason="rejected")

    response = editor_client.get(reverse("campaigns_admin:send_progress_json", args=[send.pk]))

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = response.json()
    assert {k: data[k] for k in ("state", "total", "sent", "failed", "skipped", "unknown", "queued", "done")} == {
        "state": "sending",
        "total": 4,
        "sent": 2,
        "failed": 1,
        "skipped": 0,
        "unknown": 0,
        "queued": 1,
        "done": 3,
    }
    assert data["percent"] == 75.0
    assert data["rate"] == 0.1  # one message accepted in the last ten seconds
    assert data["eta_seconds"] == 5  # one row left, two finished in the last ten seconds
    assert data["eta_text"] == "under a minute", "the words the page shows, from the same function as the page"
    assert "@" not in json.dumps(data), "aggregates only"


def test_after_a_resume_the_rate_and_the_eta_leave_out_the_seconds_the_send_was_paused(
    campaign, audience, editor_client
):
    # Given a send paused a minute ago and resumed four seconds ago, two rows sent since, two still queued
    send = send_start(send=send_create(page=campaign))
    now = timezone.now()
    SendEvent.objects.create(send=send, action=SendAction.PAUSED, created_at=now - timedelta(seconds=60))
    SendEvent.objects.create(send=send, action=SendAction.RESUMED, created_at=now - timedelta(seconds=4))
    ids = list(send.deliveries.order_by("id").values_list("id", flat=True))
    Delivery.objects.filter(pk__in=ids[:2]).update(state=DeliveryState.SENT, finished_at=now - timedelta(seconds=1))

    data = editor_client.get(reverse("campaigns_admin:send_progress_json", args=[send.pk])).json()

    # Then two messages in four seconds of sending: 0.5 a second, and four seconds for the two left (over the whole
    # ten-second window it would be 0.2 a second and ten seconds)
    assert data["rate"] == 0.5
    assert data["eta_seconds"] == 4


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], 10.0),
        ([("paused", -60), ("resumed", -60 + 50)], 10.0),  # paused and resumed before the window
        ([("paused", -60), ("resumed", -4)], 4.0),
        ([("paused", -8), ("resumed", -5)], 7.0),
        ([("paused", -8), ("resumed", -5), ("paused", -3), ("resumed", -1)], 5.0),
        ([("paused", -6)], 4.0),  # paused now
        ([("paused", -60)], 0.0),  # paused for the whole window
        ([("paused", -60), ("resumed", -10)], 10.0),  # resumed exactly at the window's start
    ],
)
def test_sending_seconds_leave_out_every_pause_in_the_window(campaign, audience, events, expected):
    from campaigns.sending.selectors import send_sending_seconds

    send = send_start(send=send_create(page=campaign))
    now = timezone.now()
    for action, offset in events:
        SendEvent.objects.create(send=send, action=action, created_at=now + timedelta(seconds=offset))
    SendEvent.objects.create(send=send, action=SendAction.CANCELLED, created_at=now - timedelta(seconds=2))

    assert send_sending_seconds(send=send, since=now - timedelta(seconds=10), now=now) == expected


def test_progress_counts_come_from_one_query(campaign, audience, django_assert_num_queries):
    from campaigns.sending.selectors import send_progress

    send = send_start(send=send_create(page=campaign))

    with django_assert_num_queries(3):  # the send itself, one GROUP BY over its rows, its pauses and resumes
        progress = send_progress(send=send)
    assert progress["queued"] == 4 and progress["percent"] == 0.0


def test_pause_resume_and_cancel_buttons_change_the_state(
    campaign, audience, editor_client, django_capture_on_commit_callbacks
):
    send = send_start(send=send_create(page=campaign))
    html = editor_client.get(progress_url(send)).content.decode()
    assert reverse("campaigns_admin:send_pause", args=[send.pk]) in html
    assert reverse("campaigns_admin:send_resume", args=[send.pk]) not in html

    response = editor_client.post(reverse("campaigns_admin:send_pause", args=[send.pk]), follow=True)
    send.refresh_from_db()
    assert send.state == SendState.PAUSED and send.pause_reason == "Paused by staff"
    html = response.content.decode()
    assert "Paused by staff" in html and reverse("campaigns_admin:send_resume", args=[send.pk]) in html

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        editor_client.post(reverse("campaigns_admin:send_resume", args=[send.pk]))
    send.refresh_from_db()
    assert send.state == SendState.SENDING and callbacks, "resuming wakes the workers"

    response = editor_client.post(reverse("campaigns_admin:send_cancel", args=[send.pk]), follow=True)
    send.refresh_from_db()
    assert send.state == SendState.CANCELLED
    assert set(send.deliveries.values_list("state", flat=True)) == {DeliveryState.SKIPPED}
    assert "Cancelled." in response.content.decode()

    # A button for a state the send has left changes nothing, and says so
    response = editor_client.post(reverse("campaigns_admin:send_resume", args=[send.pk]), follow=True)
    assert "Nothing changed: the send is cancelled." in response.content.decode()
    send.refresh_from_db()
    assert send.state == SendState.CANCELLED
    assert editor_client.get(reverse("campaigns_admin:send_pause", args=[send.pk])).status_code == 405


def test_the_progress_page_asks_the_shared_admin_script_to_poll_while_the_send_runs(
    campaign, audience, editor_client
):
    send = send_start(send=send_create(page=campaign))

    html = editor_client.get(progress_url(send)).content.decode()

    assert "admin_progress.js" in html and "admin_confirm.js" in html
    json_url = reverse("campaigns_admin:send_progress_json", args=[send.pk])
    assert f'data-progress-url="{json_url}" data-progress-every="2000" data-progress-live="true"' in html
    assert 'data-progress-state-key="state" data-progress-state="sending"' in html
    assert 'data-progress-field="eta_text"' in html
    assert 'data-confirm="Cancel this send?' in html
    Send.objects.filter(pk=send.pk).update(state=SendState.CANCELLED, finished_at=timezone.now())
    assert 'data-progress-live="false"' in editor_client.get(progress_url(send)).content.decode()


def test_a_finished_send_shows_results_and_lists_rows_in_doubt_by_id_only(campaign, audience, editor_client):
    send = send_start(send=send_create(page=campaign))
    ids = list(send.deliveries.order_by("id").values_list("id", flat=True))
    Delivery.objects.filter(pk__in=ids[:3]).update(state=DeliveryState.SENT, finished_at=timezone.now())
    Delivery.objects.filter(pk=ids[3]).update(
        state=DeliveryState.UNKNOWN, attempted_at=timezone.now(), finished_at=timezone.now()
    )
    Send.objects.filter(pk=send.pk).update(state=SendState.SENT, finished_at=timezone.now())

    html = editor_client.get(progress_url(send)).content.decode()

    assert "Results" in html and "100.0" in html
    assert 'data-progress-field="sent">3<' in html and 'data-progress-field="unknown">1<' in html
    assert f"#{ids[3]}" in html and "In doubt (1)" in html
    assert "send_pause" not in html and "Cancel send" not in html
    assert not any(s.subscriber.email in html for s in audience)


def test_sends_listing_shows_recent_sends_with_state_and_progress(campaign, audience, editor_client):
    send = send_start(send=send_create(page=campaign))
    Delivery.objects.filter(pk=send.deliveries.order_by("id").first().pk).update(
        state=DeliveryState.SENT, finished_at=timezone.now()
    )

    home = editor_client.get(reverse("wagtailadmin_home")).content.decode()
    assert reverse("campaigns_admin:sends") in home
    response = editor_client.get(reverse("campaigns_admin:sends"))

    html = response.content.decode()
    assert f'data-send="{send.pk}"' in html and progress_url(send) in html
    assert "Sending" in html and "1 sent of 4" in html
    filtered = editor_client.get(reverse("campaigns_admin:sends") + f"?campaign={campaign.pk}").content.decode()
    assert f'data-send="{send.pk}"' in filtered


def test_users_who_may_not_publish_the_campaign_are_refused_everywhere(
    campaign, audience, client, django_capture_on_commit_callbacks
):
    send = send_start(send=send_create(page=campaign))
    urls = [
        send_url(campaign),
        progress_url(send),
        reverse("campaigns_admin:send_progress_json", args=[send.pk]),
    ]
    actions = [reverse(f"campaigns_admin:send_{a}", args=[send.pk]) for a in ("pause", "resume", "cancel")]

    # A customer (not staff) is sent to the admin login
    client.force_login(User.objects.create_user(email="customer@mail.example", password="unused-in-this-test"))
    for url in [*urls, *actions]:
        response = client.post(url) if url in actions else client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("wagtailadmin_login")), url

    # Staff with no page permissions are refused
    viewer = User.objects.create_user(email="viewer@larkspur-lune.example", password="unused-in-this-test")
    viewers = Group.objects.create(name="Admin viewers")
    viewers.permissions.add(Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"))
    viewer.groups.add(viewers)
    client.force_login(viewer)
    for url in [*urls, *actions]:
        response = client.post(url) if url in actions else client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home"), url

    # An editor who may edit but not publish may watch the progress, but not send, pause or cancel
    editors = Group.objects.get(name=EDITORS)  # the role the migrations make: may edit, not publish
    viewer.groups.set([editors])
    assert client.get(progress_url(send)).status_code == 200
    assert "Cancel send" not in client.get(progress_url(send)).content.decode()
    assert client.get(send_url(campaign)).status_code == 302
    with django_capture_on_commit_callbacks(execute=False):
        post_send_now(client, campaign, seen=send.pk)
    for url in actions:
        client.post(url)
    send.refresh_from_db()
    assert send.state == SendState.SENDING and Send.objects.count() == 1


def test_seed_audience_creates_active_demo_subscribers_once(db):
    call_command("seed_audience", count=30)
    call_command("seed_audience", count=30)

    demo = Subscriber.objects.filter(email__endswith="@audience.example")
    assert demo.count() == 30
    assert (
        demo.filter(subscriptions__status=SubscriptionStatus.ACTIVE, subscriptions__topic__is_default=True).count()
        == 30
    )
    assert all(demo.values_list("address_hmac", flat=True))
