"""Click tracking: links rewritten at send start, counted per link, each recipient's first click marked on their
delivery (never which link), redirected only to the stored address. Real parts: send_start, the worker sending
through moto's SES server, the Django test client."""

import re
from collections import Counter
from urllib.parse import urlsplit

import pytest
from django.db.models import Sum
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers

from campaigns.authoring.personalise import view_in_browser_token
from campaigns.authoring.rendering import campaign_render
from campaigns.models import Delivery, Send, TrackedLink
from campaigns.results.clicks import (
    CLICK_RECIPIENT_FIELD,
    ClickLinkUnknown,
    ClickTokenInvalid,
    click_follow,
    click_recipient_key,
    click_token,
    click_url,
    links_track,
)
from campaigns.results.tally import tally_flush
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from subscribers.models import SubscriptionStatus
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

SHOP = "https://shop.larkspur-lune.example"
# The demo campaign's links in the order they appear: the hero image, the text, each product's image and name,
# the button (every address but the first is repeated).
DEMO_LINKS = [f"{SHOP}/winter", f"{SHOP}/aurora-ring", f"{SHOP}/moonstone-pendant"]
PERSONAL_HREFS = [
    'href="{{%20view_in_browser_url%20}}"',
    'href="{{%20preferences_url%20}}"',
    'href="{{%20unsubscribe_url%20}}"',
]


@pytest.fixture(autouse=True)
def _fast_rate(settings):
    settings.SES_MAX_SEND_RATE = 1000


def started(campaign) -> Send:
    return send_start(send=send_create(page=campaign))


def hrefs(html: str) -> list[str]:
    return re.findall(r'<a\b[^>]*?\shref="([^"]*)"', html)


def tracked_hrefs(html: str, site_url: str) -> list[str]:
    """The tracked links, without the recipient key that follows each (``?r=``)."""
    return [h.split("?")[0] for h in hrefs(html) if h.startswith(f"{site_url}/c/")]


def recipient_keys(html: str, site_url: str) -> set[str]:
    return {h.split("?r=")[1] for h in hrefs(html) if h.startswith(f"{site_url}/c/")}


def path_of(url: str) -> str:
    return urlsplit(url).path


def add_text_block(campaign, html: str) -> None:
    """Append a rich-text block and publish, as an author would."""
    campaign.body.append(("text", html))
    campaign.save_revision().publish()


# Rewriting at send start


def test_each_distinct_link_is_stored_once_in_order_of_first_appearance(campaign, settings):
    send = started(campaign)

    assert list(send.links.values_list("position", "url")) == list(enumerate(DEMO_LINKS, start=1))
    in_email = tracked_hrefs(send.html_source, settings.SITE_URL)
    assert Counter(in_email) == {
        click_url(send_id=send.pk, position=1): 3,  # the same address three times is one link
        click_url(send_id=send.pk, position=2): 2,
        click_url(send_id=send.pk, position=3): 2,
    }
    assert not any(h.startswith(SHOP) for h in hrefs(send.html_source))


def test_only_the_link_addresses_change_the_rest_of_the_html_is_byte_identical(campaign):
    original = campaign_render(page=campaign).html_source

    send = started(campaign)

    restored = send.html_source
    for link in send.links.all():
        tracked = f"{click_url(send_id=send.pk, position=link.position)}?r={{{{ {CLICK_RECIPIENT_FIELD} }}}}"
        restored = restored.replace(tracked, link.url)
    assert restored == original != send.html_source


def test_starting_a_send_twice_stores_its_links_once(campaign):
    send = started(campaign)

    send_start(send=send)

    assert TrackedLink.objects.filter(send=send).count() == len(DEMO_LINKS)


def test_personal_links_are_left_as_merge_tags(campaign, settings):
    send = started(campaign)

    for personal in PERSONAL_HREFS:
        assert personal in send.html_source
    assert not send.links.filter(url__contains="{{").exists()
    assert not send.links.filter(url__startswith=settings.SITE_URL).exists()


def test_mailto_is_not_rewritten_or_stored_and_an_escaped_ampersand_is_stored_as_one(campaign):
    add_text_block(
        campaign,
        '<p><a href="mailto:atelier@larkspur-lune.example">Write to the workshop</a> or '
        f'<a href="{SHOP}/search?q=ring&amp;size=7">find your size</a>.</p>',
    )

    send = started(campaign)

    assert 'href="mailto:atelier@larkspur-lune.example"' in send.html_source
    assert list(send.links.values_list("url", flat=True)) == [*DEMO_LINKS, f"{SHOP}/search?q=ring&size=7"]
    assert not send.links.exclude(url__startswith="https://").exists()


def test_links_that_are_not_absolute_http_addresses_are_left_byte_for_byte_and_never_stored(campaign, settings):
    send = send_create(page=campaign)
    untouched = [
        '<a href="javascript:alert(document.cookie)">a</a>',
        '<a href="javascript://comment%0Aalert(1)">a2</a>',
        '<a href="https:///no-host">a3</a>',
        "<a href>a4</a>",
        "<a href='JavaScript:void(0)'>b</a>",
        '<a href="mailto:atelier@larkspur-lune.example?subject=Hi&amp;body=x">c</a>',
        '<a href="tel:+441214960000">d</a>',
        '<a href=https://x.example/a"b" >d2</a>',  # a browser reads the quotes as part of the address
        '<a href="#top">e</a>',
        '<a href="/relative/path">f</a>',
        '<a href="//shop.larkspur-lune.example/no-scheme">g</a>',
        '<a href="ftp://files.example/x">h</a>',
        '<a href="https://shop.larkspur-lune.example/?u={{ unsubscribe_url }}">i</a>',
        '<a href="{{%20unsubscribe_url%20}}">j</a>',
        '<a href="https://x.example/\x07bell">k</a>',
        '<a name="anchor">l</a>',
        '<abbr title="https://x.example/abbr">m</abbr>',
        '<!-- <a href="https://x.example/commented-out">n</a> -->',
    ]
    html = "<div>" + "\n".join(untouched) + "</div>"

    result = links_track(send=send, html=html)

    assert result == html
    assert not TrackedLink.objects.filter(send=send).exists()


def test_any_quoting_and_attribute_order_is_rewritten_and_the_new_href_is_escaped(campaign, settings):
    settings.SITE_URL = 'https://news.example/"x'  # absurd, but it must not break out of the attribute
    send = send_create(page=campaign)
    html = (
        '<A class="b" data-href="https://evil.example" HREF="https://a.example/1">1</A>'
        "<a href='https://a.example/2' title=\"it's > here\">2</a>"
        "<a href=https://a.example/3?x=1>3</a>"
        '<a href="  https://a.example/1  ">1 again</a>'
    )

    result = links_track(send=send, html=html)

    assert list(send.links.values_list("position", "url")) == [
        (1, "https://a.example/1"),
        (2, "https://a.example/2"),
        (3, "https://a.example/3?x=1"),
    ]
    one, two, three = (
        click_url(send_id=send.pk, position=p).replace('"', "&quot;") + "?r={{ click_recipient }}" for p in (1, 2, 3)
    )
    assert result == (
        f'<A class="b" data-href="https://evil.example" HREF="{one}">1</A>'
        f"<a href='{two}' title=\"it's > here\">2</a>"
        f'<a href="{three}">3</a>'
        f'<a href="{one}">1 again</a>'
    )


def test_turning_tracking_off_leaves_links_untouched_and_stores_none(campaign):
    campaign.track_clicks = False
    campaign.save_revision().publish()

    send = started(campaign)

    assert send.html_source == campaign_render(page=campaign).html_source
    assert f'href="{SHOP}/aurora-ring"' in send.html_source
    assert not TrackedLink.objects.exists()


# Following a tracked link


@pytest.fixture
def send(campaign) -> Send:
    return started(campaign)


def test_a_tracked_link_redirects_to_exactly_its_stored_address_and_counts_each_click(client, send):
    link = send.links.get(position=2)
    path = path_of(click_url(send_id=send.pk, position=2))

    first = client.get(path)
    second = client.get(path)

    assert (first.status_code, first["Location"]) == (302, f"{SHOP}/aurora-ring")
    assert (second.status_code, second["Location"]) == (302, link.url)
    tally_flush()
    link.refresh_from_db()
    assert link.clicks == 2
    assert send.links.exclude(pk=link.pk).aggregate(total=Sum("clicks"))["total"] == 0


def test_the_redirect_is_not_cached_and_sends_no_referrer(client, send):
    response = client.get(path_of(click_url(send_id=send.pk, position=1)))

    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert response["Expires"] == "0"  # read as already expired by HTTP/1.0 caches
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_redirect_is_marked_uncacheable_exactly_as_never_cache_marks_a_response(client, send):
    expected = HttpResponse()
    add_never_cache_headers(expected)

    response = client.get(path_of(click_url(send_id=send.pk, position=1)))

    assert response["Cache-Control"] == expected["Cache-Control"]


def test_a_head_request_redirects_too_and_is_counted(client, send):
    response = client.head(path_of(click_url(send_id=send.pk, position=1)))

    assert (response.status_code, response["Location"]) == (302, f"{SHOP}/winter")
    tally_flush()
    assert send.links.get(position=1).clicks == 1


def test_a_post_is_refused_and_not_counted(client, send):
    response = client.post(path_of(click_url(send_id=send.pk, position=1)))

    assert response.status_code == 405
    tally_flush()
    assert send.links.get(position=1).clicks == 0


@pytest.mark.parametrize(
    "query",
    ["next=https://evil.example", "url=https://evil.example/&to=//evil.example", "redirect=%2F%2Fevil.example"],
)
def test_nothing_in_the_request_changes_where_the_redirect_goes(client, send, query):
    path = path_of(click_url(send_id=send.pk, position=3))

    response = client.get(f"{path}?{query}", headers={"Referer": "https://evil.example/"})

    assert (response.status_code, response["Location"]) == (302, f"{SHOP}/moonstone-pendant")


def _one_character_changed(token: str, part: str) -> str:
    index = {
        "send id": 0,
        "position": token.index("-") + 1,
        "signature": token.index(".") + 1,
        "last character": len(token) - 1,
    }[part]
    replacement = "2" if token[index] != "2" else "3"
    return token[:index] + replacement + token[index + 1 :]


@pytest.mark.parametrize("part", ["send id", "position", "signature", "last character"])
def test_a_token_with_one_character_changed_is_a_404_and_counts_nothing(client, send, part):
    token = click_token(send_id=send.pk, position=1)
    tampered = _one_character_changed(token, part)
    assert tampered != token and len(tampered) == len(token)

    response = client.get(f"/c/{tampered}/")

    assert response.status_code == 404
    assert "Location" not in response
    assert response["Content-Type"].startswith("text/plain")
    assert "no-store" in response["Cache-Control"]
    tally_flush()
    assert send.links.aggregate(total=Sum("clicks"))["total"] == 0
    with pytest.raises(ClickTokenInvalid):
        click_follow(token=tampered)


def test_a_genuine_token_for_a_position_that_does_not_exist_is_a_404(client, send):
    token = click_token(send_id=send.pk, position=len(DEMO_LINKS) + 1)

    response = client.get(f"/c/{token}/")

    assert response.status_code == 404 and "Location" not in response
    with pytest.raises(ClickLinkUnknown):
        click_follow(token=token)


def test_a_token_made_for_another_purpose_is_a_404(client, send, campaign):
    # A view-in-browser token is genuinely signed with the same key but another salt.
    other = view_in_browser_token(page_id=campaign.pk, revision_id=None, subscription=None)

    assert client.get(f"/c/{other}/").status_code == 404
    assert client.get("/c/1-1/").status_code == 404  # unsigned


# End to end: a real send through the worker and moto's SES server


def test_every_recipient_gets_the_same_tracked_links_each_with_their_own_key(campaign, client, outbox, settings):
    # Given three subscribers and a send that tracks clicks
    subscriptions = [SubscriptionFactory() for _ in range(3)]
    send = started(campaign)

    # When the worker sends it through SES
    assert send_work(send_id=send.pk) == 3

    # Then each recipient's HTML carries the same tracked links, in the same order, each followed by one key that
    # is theirs alone
    per_recipient, keys = {}, {}
    for subscription in subscriptions:
        message = outbox.last_to(subscription.subscriber.email)
        per_recipient[subscription.pk] = tracked_hrefs(message.html, settings.SITE_URL)
        keys[subscription.pk] = recipient_keys(message.html, settings.SITE_URL)
        assert not any(h.startswith(SHOP) for h in hrefs(message.html))
        assert f"{SHOP}/winter" in message.text  # the plain-text part is not tracked
        assert keys[subscription.pk] == {click_recipient_key(subscription=subscription)}
        assert subscription.subscriber.email not in message.html.split("/c/")[1]
    links = next(iter(per_recipient.values()))
    assert len(links) == 7
    assert all(found == links for found in per_recipient.values())
    assert set(links) == {click_url(send_id=send.pk, position=p) for p in (1, 2, 3)}
    assert len(set().union(*keys.values())) == 3

    # And following one, twice, counts two clicks on that link, marks that recipient once, and leads to the shop
    first = subscriptions[0]
    href = f"{path_of(links[2])}?r={click_recipient_key(subscription=first)}"
    response = client.get(href)
    assert (response.status_code, response["Location"]) == (302, f"{SHOP}/aurora-ring")
    tally_flush()
    marked = Delivery.objects.get(send=send, subscription=first).clicked_at
    assert marked is not None
    client.get(href)
    tally_flush()
    assert list(send.links.values_list("position", "clicks")) == [(1, 0), (2, 2), (3, 0)]
    assert Delivery.objects.get(send=send, subscription=first).clicked_at == marked, "the first click's time stays"
    assert Delivery.objects.filter(send=send, clicked_at__isnull=False).count() == 1


@pytest.mark.parametrize("key", ["", "nonsense", "0123456789abcdef0123456789abcdef.forged"])
def test_a_click_with_no_key_or_a_forged_one_counts_for_the_link_and_marks_nobody(client, campaign, outbox, key):
    SubscriptionFactory()
    send = started(campaign)
    send_work(send_id=send.pk)

    response = client.get(f"{path_of(click_url(send_id=send.pk, position=1))}?r={key}")

    assert (response.status_code, response["Location"]) == (302, f"{SHOP}/winter")
    tally_flush()
    assert send.links.get(position=1).clicks == 1
    assert not Delivery.objects.filter(clicked_at__isnull=False).exists()


def test_a_key_of_someone_this_send_did_not_go_to_marks_nobody(client, campaign, outbox):
    # Given a send to one subscriber, and someone who subscribed afterwards (so is not in its audience)
    SubscriptionFactory()
    send = started(campaign)
    send_work(send_id=send.pk)
    stranger = SubscriptionFactory()

    # When a link of that send is followed with the stranger's genuine key
    key = click_recipient_key(subscription=stranger)
    response = client.get(f"{path_of(click_url(send_id=send.pk, position=1))}?r={key}")

    # Then the link counts, and no delivery is marked (none exists for them)
    tally_flush()
    assert response.status_code == 302 and send.links.get(position=1).clicks == 1
    assert not Delivery.objects.filter(clicked_at__isnull=False).exists()


def test_the_unsubscribe_link_in_a_tracked_email_is_personal_and_still_works(campaign, client, outbox, settings):
    subscriptions = [SubscriptionFactory() for _ in range(2)]
    send = started(campaign)
    send_work(send_id=send.pk)

    footer = {}
    for subscription in subscriptions:
        html = outbox.last_to(subscription.subscriber.email).html
        footer[subscription.pk] = [h for h in hrefs(html) if not h.startswith((f"{settings.SITE_URL}/c/", SHOP))]
    first, second = (footer[s.pk] for s in subscriptions)
    assert len(first) == 3 and first != second  # view in browser, preferences, unsubscribe: per recipient
    unsubscribe = next(h for h in first if "/newsletter/unsubscribe/" in h)
    assert next(h for h in first if "/newsletter/preferences/" in h)
    assert next(h for h in first if "/email/" in h)

    assert client.get(path_of(unsubscribe)).status_code == 200
    response = client.post(path_of(unsubscribe), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    subscriptions[0].refresh_from_db()
    assert subscriptions[0].status == SubscriptionStatus.UNSUBSCRIBED
    assert not send.links.filter(clicks__gt=0).exists()
