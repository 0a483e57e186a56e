"""The report a marketing team reads after a send: totals, a chart over time and clicks per link, aggregates only."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Delivery, DeliveryState, TrackedLink
from campaigns.results.charts import timeline_chart
from campaigns.results.report import count_shown, rate_shown, send_report, send_timeline
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from subscribers.models import ConsentSource
from subscribers.services import subscription_withdraw
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(campaign, outbox, settings):
    settings.SES_MAX_SEND_RATE = 1000
    people = [SubscriptionFactory() for _ in range(8)]
    send = send_start(send=send_create(page=campaign))
    send_work(send_id=send.pk)
    send.refresh_from_db()
    return send, people


def test_counts_of_one_to_four_show_as_less_than_the_minimum_group_size_and_zero_shows_as_zero(settings):
    settings.REPORT_MIN_GROUP_SIZE = 5
    assert [count_shown(n) for n in (0, 1, 4, 5, 1234)] == ["0", "<5", "<5", "5", "1,234"]
    settings.REPORT_MIN_GROUP_SIZE = 10
    assert [count_shown(n) for n in (0, 9, 10)] == ["0", "<10", "10"]


@pytest.mark.parametrize(
    ("numerator", "denominator", "shown", "why"),
    [
        (0, 100, "0%", ""),
        (5, 1000, "0.50%", ""),
        (12, 400, "3.0%", ""),
        (100, 100, "100.0%", ""),
        (1, 100, "hidden", "fewer than 5 people are behind this rate"),
        (4, 3000, "hidden", "fewer than 5 people are behind this rate"),
        (0, 4, "hidden", "fewer than 5 messages were accepted"),
        (4, 4, "hidden", "fewer than 5 messages were accepted"),
        (0, 0, "\u2013", "No message was accepted by SES"),
    ],
)
def test_a_rate_is_hidden_when_one_to_four_people_are_behind_it_or_the_group_is_that_small(
    settings, numerator, denominator, shown, why
):
    settings.REPORT_MIN_GROUP_SIZE = 5

    rate = rate_shown(numerator, denominator)

    assert rate["shown"] == shown
    assert rate["hidden"] is (shown == "hidden")
    assert why in rate["why"] and bool(rate["why"]) is bool(why)


def test_the_report_gives_each_rate_out_of_the_messages_ses_accepted_hiding_small_groups(finished):
    send, _ = finished
    rows = list(Delivery.objects.filter(send=send).order_by("pk"))
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:6]]).update(delivered_at=timezone.now())
    Delivery.objects.filter(pk=rows[6].pk).update(bounce_type="permanent", bounced_at=timezone.now())

    rates = send_report(send=send)["rates"]

    assert rates["delivered"]["shown"] == "75.0%", "6 of the 8 accepted"
    assert rates["bounced"]["hidden"] and "fewer than 5 people" in rates["bounced"]["why"], "1 person: hidden"
    assert rates["complained"]["shown"] == rates["unsubscribed"]["shown"] == "0%", "nobody: nobody singled out"


def test_the_report_counts_outcomes_and_unsubscribes_from_this_email(finished):
    send, people = finished
    rows = list(Delivery.objects.filter(send=send).order_by("pk"))
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:6]]).update(delivered_at=timezone.now())
    Delivery.objects.filter(pk=rows[6].pk).update(bounce_type="permanent", bounced_at=timezone.now())
    Delivery.objects.filter(pk=rows[7].pk).update(bounce_type="transient", bounced_at=timezone.now())
    Delivery.objects.filter(pk=rows[0].pk).update(complained_at=timezone.now())
    # Two unsubscribe through this email's link; one withdraws in the account pages, which is not "from this email".
    for person, source in zip(
        people[:3], (ConsentSource.EMAIL_LINK, ConsentSource.ONE_CLICK, ConsentSource.ACCOUNT_PAGE), strict=True
    ):
        subscription_withdraw(subscription=person, source=source)

    counts = send_report(send=send)["counts"]

    assert counts["recipients"] == counts["sent"] == 8
    assert (counts["delivered"], counts["hard_bounced"], counts["soft_bounced"], counts["complained"]) == (6, 1, 1, 1)
    assert counts["unsubscribed"] == 2


def test_an_unsubscribe_after_a_later_email_is_not_counted_for_the_earlier_one(finished, campaign):
    send, people = finished
    later = Delivery.objects.filter(send=send, subscriber=people[0].subscriber).first()
    # A later message to the same person (as another send would record it), then the unsubscribe.
    Delivery.objects.filter(pk=later.pk).update(finished_at=timezone.now() - timedelta(hours=1))
    other = send_create(page=campaign)
    Delivery.objects.create(
        send=other,
        subscriber=people[0].subscriber,
        subscription=people[0],
        state=DeliveryState.SENT,
        finished_at=timezone.now() - timedelta(minutes=30),
    )
    subscription_withdraw(subscription=people[0], source=ConsentSource.EMAIL_LINK)

    assert send_report(send=send)["counts"]["unsubscribed"] == 0
    assert send_report(send=other)["counts"]["unsubscribed"] == 1


def test_the_timeline_buckets_accepted_and_delivered_messages_and_the_chart_draws_them(finished):
    send, _ = finished
    Delivery.objects.filter(send=send).update(delivered_at=send.started_at + timedelta(minutes=3))

    timeline = send_timeline(send=send)
    chart = timeline_chart(timeline)

    assert sum(timeline["accepted"]) == 8 and sum(timeline["delivered"]) == 8
    assert timeline["step"] == timedelta(minutes=1), "a span of three minutes is drawn per minute"
    assert timeline["delivered"][3] == 8, "delivered three minutes after the start"
    assert len(timeline["starts"]) == len(timeline["accepted"]) == len(timeline["delivered"]) == 4
    tallest = max(chart["series"]["delivered"], key=lambda bar: bar.height)
    assert tallest.value == 8 and tallest.height > 0
    assert chart["ticks"][-1]["value"] == 10, "a round top for the y axis"


def test_the_report_page_shows_totals_chart_and_links_and_names_nobody(finished, admin_client):
    send, people = finished
    links = list(TrackedLink.objects.filter(send=send).order_by("position"))  # made when the send started
    TrackedLink.objects.filter(pk=links[0].pk).update(clicks=7)
    TrackedLink.objects.filter(pk=links[1].pk).update(clicks=2)

    response = admin_client.get(reverse("campaigns_admin:send_report", args=[send.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'data-report="recipients">\s*8<', html)
    assert re.search(r'data-report="complained">\s*0<', html), "zero singles out nobody: it shows"
    # all clicks less the link shown (7) would be the other link's 2: the total is withheld, saying why
    clicks = re.search(r'data-report="clicks" title="([^"]+)">\s*hidden<', html)
    assert clicks and "by subtraction" in clicks[1]
    assert "<svg" in html and "send-chart__bar--accepted" in html
    assert links[0].url in html and ">7<" in html and "&lt;5" in html
    for person in people:
        assert person.subscriber.email not in html


def test_the_report_page_shows_rates_and_says_why_one_is_hidden(finished, admin_client):
    send, _ = finished
    rows = list(Delivery.objects.filter(send=send).order_by("pk"))
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:5]]).update(delivered_at=timezone.now())
    Delivery.objects.filter(pk=rows[5].pk).update(bounce_type="transient", bounced_at=timezone.now())

    html = admin_client.get(reverse("campaigns_admin:send_report", args=[send.pk])).content.decode()

    rates = html.split("data-report-rates")[1].split("</dl>")[0]
    assert re.search(r'data-rate="delivered">\s*<dt>Delivered</dt>\s*<dd>62.5%</dd>', rates)
    bounced = rates.split('data-rate="bounced"')[1].split("</div>")[0]
    assert "data-rate-hidden" in bounced and ">hidden<" in bounced
    assert 'title="Hidden: fewer than 5 people are behind this rate, so it could single someone out."' in bounced
    assert re.search(r'data-rate="complained">\s*<dt>Complained</dt>\s*<dd>0%</dd>', rates)
    clicked = rates.split('data-rate="clicked"')[1].split("</div>")[0]
    assert re.search(r"<dt>Clicked \(unique recipients\)</dt>\s*<dd>0%</dd>", clicked), "nobody clicked: 0%"
    assert "out of the 8 messages SES accepted" in html


def test_the_clicked_rate_counts_each_recipient_once_from_their_real_clicks(finished, client, outbox, admin_client):
    # Given a send to eight people, five of whom follow links from their own email, one of them three times
    send, people = finished
    for person in people[:5]:
        html = outbox.last_to(person.subscriber.email).html
        tracked = re.findall(r'href="https?://[^/"]+(/c/[^"]+)"', html)
        for href in tracked[: 3 if person is people[0] else 1]:
            assert client.get(href.replace("&amp;", "&")).status_code == 302

    # Then the report counts five people out of eight, however many clicks they made
    results = send_report(send=send)
    assert results["counts"]["clicked"] == 5
    assert results["clicks"] == 7
    assert results["rates"]["clicked"]["shown"] == "62.5%"
    html = admin_client.get(reverse("campaigns_admin:send_report", args=[send.pk])).content.decode()
    clicked = html.split('data-rate="clicked"')[1].split("</div>")[0]
    assert re.search(r"<dd>62.5%</dd>", clicked)


def test_the_clicked_rate_is_hidden_when_one_to_four_people_clicked(finished, admin_client):
    send, _ = finished
    Delivery.objects.filter(pk__in=list(send.deliveries.values_list("pk", flat=True)[:2])).update(
        clicked_at=timezone.now()
    )

    html = admin_client.get(reverse("campaigns_admin:send_report", args=[send.pk])).content.decode()

    clicked = html.split('data-rate="clicked"')[1].split("</div>")[0]
    assert "data-rate-hidden" in clicked and ">hidden<" in clicked


def test_a_send_whose_links_carry_no_recipient_key_says_the_clicked_rate_was_not_measured(finished, admin_client):
    # Given a send made before recipients' keys were added to its links (its stored HTML has none)
    send, _ = finished
    send.html_source = send.html_source.replace("?r={{ click_recipient }}", "")
    send.save(update_fields=["html_source"])

    html = admin_client.get(reverse("campaigns_admin:send_report", args=[send.pk])).content.decode()

    clicked = html.split('data-rate="clicked"')[1].split("</div>")[0]
    assert "Not measured" in clicked and "Sent before clicks were counted per recipient" in clicked
    assert send_report(send=send)["clicks_per_recipient"] is False


def test_a_count_that_would_give_a_hidden_one_away_by_subtraction_is_withheld_too(finished, settings):
    settings.REPORT_MIN_GROUP_SIZE = 3
    send, _ = finished
    rows = list(Delivery.objects.filter(send=send).order_by("pk"))
    now = timezone.now()
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:4]]).update(bounce_type="permanent", bounced_at=now)
    Delivery.objects.filter(pk=rows[4].pk).update(bounce_type="transient", bounced_at=now)
    Delivery.objects.filter(pk=rows[5].pk).update(state=DeliveryState.FAILED)
    links = list(TrackedLink.objects.filter(send=send).order_by("position"))
    TrackedLink.objects.filter(pk=links[0].pk).update(clicks=9)
    TrackedLink.objects.filter(pk=links[1].pk).update(clicks=1)

    report = send_report(send=send)

    # Five bounces, four hard: "bounced" less "hard" would be the one soft bounce
    assert report["shown"]["soft_bounced"] == "<3" and report["shown"]["hard_bounced"] == "4"
    assert report["shown"]["bounced"] == "hidden" and "subtraction" in report["why"]["bounced"]
    assert report["rates"]["bounced"]["hidden"] and "subtraction" in report["rates"]["bounced"]["why"]
    # One failed row: the total less the rest would give it, so the smallest other outcome is withheld
    assert report["shown"]["failed"] == "<3"
    assert report["shown"]["skipped"] == "hidden" or report["shown"]["unknown"] == "hidden"
    assert report["shown"]["sent"] == "7" and report["shown"]["recipients"] == "8"
    # Ten clicks, one of them on a hidden link
    assert report["clicks_shown"] == "hidden" and "subtraction" in report["clicks_why"]


def test_sums_whose_hidden_parts_are_none_or_several_still_show(finished, settings):
    settings.REPORT_MIN_GROUP_SIZE = 3
    send, _ = finished
    rows = list(Delivery.objects.filter(send=send).order_by("pk"))
    now = timezone.now()
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:2]]).update(bounce_type="permanent", bounced_at=now)
    Delivery.objects.filter(pk__in=[r.pk for r in rows[2:4]]).update(bounce_type="transient", bounced_at=now)
    links = list(TrackedLink.objects.filter(send=send).order_by("position"))
    TrackedLink.objects.filter(pk=links[0].pk).update(clicks=9)
    TrackedLink.objects.filter(pk=links[1].pk).update(clicks=4)

    report = send_report(send=send)

    assert report["shown"]["bounced"] == "4" and report["withheld"] == {}
    assert report["shown"]["failed"] == report["shown"]["skipped"] == report["shown"]["unknown"] == "0"
    assert report["clicks_shown"] == "13" and report["clicks_why"] == ""


def report_url(send) -> str:
    return reverse("campaigns_admin:send_report", args=[send.pk])


def test_a_large_sends_report_is_counted_in_the_background_and_shown_with_its_age(
    finished, admin_client, settings, django_capture_on_commit_callbacks
):
    # Given a send of more recipients than the report counts while its page loads
    send, _ = finished
    settings.REPORT_INLINE_MAX = 3

    # When the report is opened: nothing counted yet, one count is started, and the page says it will update itself
    with django_capture_on_commit_callbacks() as started:
        html = admin_client.get(report_url(send)).content.decode()
    assert "Counting the results of 8 recipients" in html and "data-reload-seconds" in html
    assert 'data-report="recipients"' not in html
    assert len(started) == 1
    with django_capture_on_commit_callbacks() as again:
        admin_client.get(report_url(send))
    assert not again, "one count of a report at a time"

    # And when the count has run (the task, on the default queue; here in this process)
    started[0]()
    html = admin_client.get(report_url(send)).content.decode()

    # Then the report shows its totals and chart, how fresh they are, and a way to count again
    assert re.search(r'data-report="recipients">\s*8<', html)
    assert "<svg" in html and "send-chart__bar--accepted" in html
    assert "Counted 0 seconds ago" in html and "data-report-recount" in html


def test_an_old_report_is_shown_while_a_new_count_runs_and_a_recount_can_be_asked_for(
    finished, admin_client, settings, django_capture_on_commit_callbacks
):
    send, _ = finished
    settings.REPORT_INLINE_MAX = 3
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.get(report_url(send))  # counted (the test settings run tasks at once)
    row = Delivery.objects.filter(send=send).order_by("pk").first()
    Delivery.objects.filter(pk=row.pk).update(complained_at=timezone.now())

    # Fresh: the kept report is shown as it was, and nothing is counted again
    with django_capture_on_commit_callbacks() as none:
        html = admin_client.get(report_url(send)).content.decode()
    assert not none and re.search(r'data-report="complained">\s*0<', html)

    # Asked for again: counted again, and the complaint shows (as "<5": one person)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.get(report_url(send) + "?recount=1")
    html = admin_client.get(report_url(send)).content.decode()
    assert re.search(r'data-report="complained"[^>]*>\s*&lt;5<', html)

    # Older than the freshness allowed: shown, said to be counted again, and a count started
    settings.REPORT_FRESH_SECONDS = 0
    with django_capture_on_commit_callbacks() as recount:
        html = admin_client.get(report_url(send)).content.decode()
    assert "counting again now" in html and len(recount) == 1


def test_a_small_sends_report_is_counted_while_the_page_loads_and_says_nothing_of_age(finished, admin_client):
    send, _ = finished
    html = admin_client.get(report_url(send)).content.decode()
    assert re.search(r'data-report="recipients">\s*8<', html)
    assert "data-report-counted-at" not in html and "Counting the results" not in html
