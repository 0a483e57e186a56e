"""The admin's listings of large tables page by position (subscribers/admin/paging.py): no OFFSET, no row repeated
or lost at a page's edge, filters and search kept in the links, and a bad link gives the first page."""

import base64
import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from subscribers.admin.paging import CursorError, Keyset, keyset_page
from subscribers.models import ConsentAction, ConsentEvent, ConsentPurpose, ConsentSource
from tests.factories import SubscriberFactory, UserFactory

pytestmark = pytest.mark.django_db

NEWEST_FIRST = Keyset(("-occurred_at", "-id"))
INDEX = reverse("consentevent:index")


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def events(times, action=ConsentAction.WITHDRAWN, subscriber=None) -> list[ConsentEvent]:
    return ConsentEvent.objects.bulk_create(
        ConsentEvent(
            subscriber=subscriber,
            purpose=ConsentPurpose.MARKETING,
            action=action,
            source=ConsentSource.EMAIL_LINK,
            occurred_at=at,
        )
        for at in times
    )


def newest_first_ids() -> list[int]:
    return list(ConsentEvent.objects.order_by("-occurred_at", "-id").values_list("id", flat=True))


def test_walking_forward_and_back_lists_each_event_once_even_when_several_share_an_instant():
    # Given seven events, four of them at the same instant, so that a page's edge falls among them
    now = timezone.now().replace(microsecond=0)
    events([now - timedelta(minutes=1), now, now, now, now, now - timedelta(minutes=5), now + timedelta(minutes=1)])
    expected = newest_first_ids()
    queryset = ConsentEvent.objects.all()

    # When walked forward two at a time from the first page
    seen, page = [], keyset_page(queryset, keyset=NEWEST_FIRST, size=2)
    assert page.is_first and page.previous is None
    while True:
        seen += [event.pk for event in page]
        if page.next is None:
            break
        page = keyset_page(queryset, keyset=NEWEST_FIRST, size=2, after=NEWEST_FIRST.decode(ConsentEvent, page.next))
    # Then every event comes once, in order, and the last page says so
    assert seen == expected and page.is_last

    # When walked back from the far end
    seen, page = [], keyset_page(queryset, keyset=NEWEST_FIRST, size=2, last=True)
    assert page.is_last and page.next is None
    while True:
        seen = [event.pk for event in page] + seen
        if page.previous is None:
            break
        page = keyset_page(
            queryset, keyset=NEWEST_FIRST, size=2, before=NEWEST_FIRST.decode(ConsentEvent, page.previous)
        )
    # Then the same events in the same order, none twice; the page that reached the start is the first page
    assert seen == expected and page.is_first


def test_a_position_past_the_end_gives_the_first_page():
    first, second = events([timezone.now(), timezone.now() - timedelta(hours=1)])
    position = (second.occurred_at - timedelta(days=1), 0)

    page = keyset_page(ConsentEvent.objects.all(), keyset=NEWEST_FIRST, size=1, after=position)

    assert [event.pk for event in page] == [first.pk] and page.is_first and page.next


@pytest.mark.parametrize(
    "token",
    [
        "not base64 !",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(json.dumps({"occurred_at": 1}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-12-07T01:00:00+00:00"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["yesterday", 3]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-12-07T01:00:00+00:00", "three"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-12-07T01:00:00", 3]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps([None, 3]).encode()).decode(),
    ],
)
def test_a_tampered_position_is_refused_by_the_keyset(token):
    with pytest.raises(CursorError):
        NEWEST_FIRST.decode(ConsentEvent, token)


def rows_on(html: str) -> list[int]:
    """The events listed on a page, by the links to their inspect views, in the page's order."""
    return [int(pk) for pk in dict.fromkeys(re.findall(r"/admin/consentevent/inspect/(\d+)/", html))]


def link(html: str, which: str) -> str | None:
    match = re.search(r'<a href="([^"]*)"[^>]*data-keyset="' + which + '"', html)
    return unescape(match.group(1)) if match else None


def test_consent_history_pages_newer_and_older_with_the_filter_kept_and_no_offset(staff_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Given 25 withdrawals (seven at one instant, across the first page's edge) and 10 requests in between
    now = timezone.now()
    events([now - timedelta(seconds=n if not 16 <= n <= 22 else 16) for n in range(25)])
    events([now - timedelta(seconds=n, milliseconds=500) for n in range(10)], action=ConsentAction.REQUESTED)
    withdrawn = list(
        ConsentEvent.objects.filter(action="withdrawn").order_by("-occurred_at", "-id").values_list("id", flat=True)
    )

    # When the history is filtered to withdrawals
    first = staff_client.get(INDEX, {"action": "withdrawn"}).content.decode()
    # Then the newest 20 withdrawals, no way to newer ones, an "Older" link that keeps the filter
    assert rows_on(first) == withdrawn[:20]
    assert link(first, "first") is None and link(first, "previous") is None
    older = link(first, "next")
    assert "action=withdrawn" in older and "after=" in older
    assert "25 in all" in first

    # When "Older" is followed: the other five, none repeated, with no OFFSET in any query
    with CaptureQueriesContext(connection) as queries:
        second = staff_client.get(older).content.decode()
    assert rows_on(second) == withdrawn[20:]
    assert link(second, "next") is None and link(second, "last") is None, "the last page"
    assert not any(" OFFSET " in query["sql"].upper() for query in queries)

    # When "Newer" is followed back: the first page again
    assert rows_on(staff_client.get(link(second, "previous")).content.decode()) == withdrawn[:20]

    # When "Oldest" is followed from the first page: the oldest 20, the filter still applied
    oldest = staff_client.get(link(first, "last")).content.decode()
    assert rows_on(oldest) == withdrawn[-20:]
    assert link(oldest, "next") is None and "action=withdrawn" in link(oldest, "previous")

    # When sorted the other way: oldest first, paged the same way
    ascending = staff_client.get(INDEX, {"action": "withdrawn", "ordering": "occurred_at"}).content.decode()
    assert rows_on(ascending) == withdrawn[::-1][:20]
    assert rows_on(staff_client.get(link(ascending, "next")).content.decode()) == withdrawn[::-1][20:]


def test_consent_history_keeps_a_search_in_its_page_links(staff_client):
    ada = SubscriberFactory(email="ada@mail.example")
    events([timezone.now() - timedelta(seconds=n) for n in range(22)], subscriber=ada)
    events([timezone.now()], subscriber=SubscriberFactory(email="ben@mail.example"))

    first = staff_client.get(INDEX, {"q": "ada@mail.example"}).content.decode()
    second = staff_client.get(link(first, "next")).content.decode()

    assert "q=ada%40mail.example" in link(first, "next")
    assert len(rows_on(first)) == 20 and len(rows_on(second)) == 2
    assert "ben@mail.example" not in first + second


@pytest.mark.parametrize(
    "query",
    [
        {"after": "bm90IGEgcG9zaXRpb24"},
        {"before": "%%%"},
        {"after": base64.urlsafe_b64encode(b'["2026-12-07T01:00:00+00:00", "1 OR 1=1"]').decode()},
    ],
)
def test_a_tampered_page_link_gives_the_first_page_with_a_message(staff_client, query):
    events([timezone.now() - timedelta(seconds=n) for n in range(3)])

    response = staff_client.get(INDEX, query)

    assert response.status_code == 200
    html = response.content.decode()
    assert rows_on(html) == newest_first_ids()
    assert "That page link is not valid here" in html


@pytest.mark.parametrize(("model", "sortable"), [("subscriber", "email"), ("subscription", None)])
def test_the_people_listings_page_by_position_and_sort_only_by_their_key(staff_client, model, sortable):
    from tests.factories import SubscriptionFactory

    SubscriptionFactory.create_batch(21)

    html = staff_client.get(reverse(f"{model}:index")).content.decode()

    nxt = link(html, "next")
    assert nxt and "after=" in nxt and "21 in all" in html
    assert staff_client.get(nxt).status_code == 200
    orderings = set(re.findall(r"ordering=(-?\w+)", html))
    assert orderings <= ({sortable, f"-{sortable}"} if sortable else set())


def test_the_suppression_list_pages_newest_first_by_position_with_its_filter_kept(staff_client):
    from subscribers.models import Suppression

    Suppression.objects.bulk_create(
        Suppression(address_hmac=f"{n:064x}", scope="marketing" if n % 4 else "all", reason="unsubscribed")
        for n in range(40)
    )
    newest_first = Suppression.objects.filter(scope="marketing").order_by("-id")
    marketing = list(newest_first.values_list("address_hmac", flat=True))

    first = staff_client.get(reverse("suppression:index"), {"scope": "marketing"}).content.decode()
    second = staff_client.get(link(first, "next")).content.decode()

    def listed(html):
        return re.findall(r"\b[0-9a-f]{64}\b", html)

    assert listed(first) == marketing[:20] and listed(second) == marketing[20:]
    assert "scope=marketing" in link(first, "next") and link(second, "next") is None


def test_on_postgresql_the_page_after_a_position_is_one_row_comparison_the_index_can_start_at():
    """``(occurred_at, id) < (x, y)``, which the index on (occurred_at, id) answers from the position; written out
    as ``a < x OR (a = x AND id < y)`` it would read every row of instant ``x`` first (docs/BENCHMARKS.md)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row comparison; Django writes it out there")
    event = events([timezone.now()])[0]

    sql = str(NEWEST_FIRST.after(ConsentEvent.objects.all(), NEWEST_FIRST.position(event)).query)

    table = ConsentEvent._meta.db_table
    assert f'("{table}"."occurred_at", "{table}"."id") < (' in sql
