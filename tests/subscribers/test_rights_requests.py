"""Requests from people to exercise their data-protection rights: the one-month deadline as the ICO counts it,
recording and closing requests, and the "Privacy requests" admin (list, record, detail, close, erase, dashboard)."""

import calendar
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from subscribers.models import (
    ErasureRecord,
    ErasureSource,
    RightsRequest,
    RightsRequestChannel,
    RightsRequestKind,
    RightsRequestStatus,
    Subscriber,
    User,
)
from subscribers.selectors import rights_request_counts, rights_requests_open
from subscribers.services import (
    RightsRequestError,
    rights_request_close,
    rights_request_deadline,
    rights_request_open,
)
from tests.factories import ConfirmedSubscriberFactory, UserFactory

# Deadline rule -------------------------------------------------------------------------------------------------------

# (received, deadline, the deadline's weekday, why). The weekday column is checked against the calendar below, so a
# wrong expectation in this table fails loudly instead of testing the wrong thing.
DEADLINES = [
    (date(2025, 9, 3), date(2025, 10, 3), "Friday", "the corresponding date next month; a Friday stays"),
    (date(2026, 1, 31), date(2026, 3, 2), "Monday", "no 31 February: the 28th, a Saturday, moves to Monday"),
    (date(2028, 1, 31), date(2028, 2, 29), "Tuesday", "leap year: the last day of February is the 29th"),
    (date(2025, 3, 30), date(2025, 4, 30), "Wednesday", "30 April exists"),
    (date(2026, 3, 31), date(2026, 4, 30), "Thursday", "no 31 April: the last day of April"),
    (date(2024, 12, 31), date(2025, 1, 31), "Friday", "December to January of the next year"),
    (date(2026, 12, 31), date(2027, 2, 1), "Monday", "31 January 2027 is a Sunday: the next Monday"),
    (date(2026, 4, 25), date(2026, 5, 25), "Monday", "received on a Saturday: the count starts that day all the same"),
]


@pytest.mark.parametrize(("received", "expected", "weekday", "why"), DEADLINES, ids=[row[3] for row in DEADLINES])
def test_deadline_is_one_calendar_month_after_receipt_as_the_ico_counts_it(received, expected, weekday, why):
    assert calendar.day_name[calendar.weekday(expected.year, expected.month, expected.day)] == weekday, (
        "the table's weekday is wrong"
    )

    assert rights_request_deadline(received) == expected, why


def test_deadline_on_a_holiday_moves_to_the_next_working_day():
    # 25 May 2026 is a Monday and the spring bank holiday.
    assert rights_request_deadline(date(2026, 4, 25), holidays=[date(2026, 5, 25)]) == date(2026, 5, 26)


def test_deadline_moves_past_a_weekend_and_then_a_holiday_after_it():
    # 2 May 2026 is a Saturday; Monday 4 May is the early May bank holiday.
    assert rights_request_deadline(date(2026, 4, 2), holidays=[date(2026, 5, 4)]) == date(2026, 5, 5)


def test_a_holiday_that_is_not_the_deadline_changes_nothing():
    assert rights_request_deadline(date(2025, 9, 3), holidays=[date(2025, 10, 2), date(2025, 10, 6)]) == date(
        2025, 10, 3
    )


# Services ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def subscriber(db) -> Subscriber:
    return ConfirmedSubscriberFactory(email="person@mail.example")


@pytest.fixture
def staff(db) -> User:
    return UserFactory(email="staff@larkspur-lune.example", is_staff=True, is_superuser=True)


def open_request(subscriber: Subscriber | None = None, **overrides) -> RightsRequest:
    values = {
        "kind": RightsRequestKind.ACCESS,
        "channel": RightsRequestChannel.EMAIL,
        "received_on": date(2026, 1, 31),
        "subscriber": subscriber,
    }
    return rights_request_open(**{**values, **overrides})


def test_open_records_the_request_with_its_deadline(subscriber, staff):
    request = open_request(subscriber, note="  email of 31 January ", created_by=staff)

    request.refresh_from_db()
    assert request.deadline == date(2026, 3, 2)
    assert request.status == RightsRequestStatus.OPEN
    assert request.subscriber == subscriber
    assert request.note == "email of 31 January"
    assert request.created_by == staff


def test_open_takes_the_holidays_from_the_setting(subscriber, settings):
    settings.RIGHTS_REQUEST_HOLIDAYS = ["2026-05-25", "2026-12-25"]

    request = open_request(subscriber, received_on=date(2026, 4, 25))

    assert request.deadline == date(2026, 5, 26)


def test_a_malformed_holiday_setting_is_refused_naming_the_setting(subscriber, settings):
    settings.RIGHTS_REQUEST_HOLIDAYS = ["25/05/2026"]

    with pytest.raises(ImproperlyConfigured, match="RIGHTS_REQUEST_HOLIDAYS: '25/05/2026'"):
        open_request(subscriber)
    assert not RightsRequest.objects.exists()


def test_open_refuses_a_date_received_in_the_future_and_records_nothing(subscriber):
    tomorrow = timezone.localdate() + timedelta(days=1)

    with pytest.raises(RightsRequestError, match="is in the future") as raised:
        open_request(subscriber, received_on=tomorrow)

    assert isinstance(raised.value, ValueError)
    assert raised.value.field == "received_on"
    assert not RightsRequest.objects.exists()


def test_open_accepts_a_request_received_today(subscriber):
    assert open_request(subscriber, received_on=timezone.localdate()).pk


def test_close_as_done_records_when_and_by_whom(subscriber, staff):
    request = open_request(subscriber)

    rights_request_close(request=request, status=RightsRequestStatus.DONE, outcome="Copy sent", closed_by=staff)

    request.refresh_from_db()
    assert request.status == RightsRequestStatus.DONE
    assert request.outcome == "Copy sent"
    assert request.closed_by == staff
    assert timezone.now() - request.closed_at < timedelta(minutes=1)


@pytest.mark.parametrize("outcome", ["", "   "])
def test_refusing_needs_a_reason(subscriber, outcome):
    request = open_request(subscriber)

    with pytest.raises(RightsRequestError, match="Give the reason"):
        rights_request_close(request=request, status=RightsRequestStatus.REFUSED, outcome=outcome)

    request.refresh_from_db()
    assert request.status == RightsRequestStatus.OPEN
    assert request.closed_at is None


def test_refusing_with_a_reason_closes_the_request(subscriber):
    request = open_request(subscriber)

    rights_request_close(request=request, status=RightsRequestStatus.REFUSED, outcome="Manifestly unfounded")

    request.refresh_from_db()
    assert (request.status, request.outcome) == (RightsRequestStatus.REFUSED, "Manifestly unfounded")


def test_only_an_open_request_can_be_closed(subscriber):
    request = open_request(subscriber)
    rights_request_close(request=request, status=RightsRequestStatus.DONE, outcome="First")

    with pytest.raises(RightsRequestError, match=r"already closed \(done\)"):
        rights_request_close(request=request, status=RightsRequestStatus.REFUSED, outcome="Second")

    request.refresh_from_db()
    assert (request.status, request.outcome) == (RightsRequestStatus.DONE, "First")


def test_a_request_is_closed_as_done_or_refused_only(subscriber):
    request = open_request(subscriber)

    with pytest.raises(RightsRequestError, match="done or refused"):
        rights_request_close(request=request, status=RightsRequestStatus.OPEN)


# Selectors -----------------------------------------------------------------------------------------------------------

TODAY = date(2026, 6, 10)


def request_due(deadline: date, *, status: str = RightsRequestStatus.OPEN, **values) -> RightsRequest:
    """A request row with a given deadline (built directly: what is under test only reads it)."""
    values = {"kind": RightsRequestKind.ACCESS, "channel": RightsRequestChannel.POST, **values}
    return RightsRequest.objects.create(
        received_on=deadline - timedelta(days=30), deadline=deadline, status=status, **values
    )


@pytest.fixture
def requests_around_today(db) -> dict[str, RightsRequest]:
    return {
        "later": request_due(TODAY + timedelta(days=8)),
        "in_seven_days": request_due(TODAY + timedelta(days=7)),
        "today": request_due(TODAY),
        "overdue": request_due(TODAY - timedelta(days=3)),
        "closed_overdue": request_due(TODAY - timedelta(days=5), status=RightsRequestStatus.DONE),
    }


def test_open_requests_come_nearest_deadline_first_with_days_left(requests_around_today):
    rows = rights_requests_open(today=TODAY)

    by_key = {request.pk: key for key, request in requests_around_today.items()}
    assert [(by_key[r.pk], r.days_left, r.urgency) for r in rows] == [
        ("overdue", -3, "overdue"),
        ("today", 0, "due_soon"),
        ("in_seven_days", 7, "due_soon"),
        ("later", 8, ""),
    ]
    assert rows[0].days_overdue == 3


def test_dashboard_counts_open_due_soon_and_overdue(requests_around_today):
    assert rights_request_counts(today=TODAY) == {"open": 4, "due_soon": 2, "overdue": 1}


# Admin ---------------------------------------------------------------------------------------------------------------


def user_with_permissions(email: str, *codenames: str, access_admin: bool = True) -> User:
    """A staff user who may enter the Wagtail admin, with these ``subscribers`` model permissions only."""
    user = UserFactory(email=email, is_staff=True)
    if access_admin:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin")
        )
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="subscribers", codename__in=[f"{c}_rightsrequest" for c in codenames]
        )
    )
    return User.objects.get(pk=user.pk)  # no cached permissions


@pytest.fixture
def officer_client(client, db) -> Client:
    """The privacy officer: may view, record and close requests, and nothing else in particular."""
    client.force_login(user_with_permissions("officer@larkspur-lune.example", "view", "add", "change"))
    return client


@pytest.fixture
def outsider_clients(db) -> dict[str, Client]:
    """Users who must be refused: a customer who is not staff, and staff without the privacy permissions."""
    clients = {}
    for name, user in {
        "customer": UserFactory(email="customer@shop.example"),
        "staff without the permissions": user_with_permissions("editor@larkspur-lune.example"),
    }.items():
        clients[name] = Client()
        clients[name].force_login(user)
    return clients


def url(name: str, *args) -> str:
    return reverse(f"rights_admin:{name}", args=args)


def record_form(**overrides) -> dict[str, str]:
    return {
        "kind": "erasure",
        "channel": "post",
        "received_on": "2026-01-31",
        "email": "Person@Mail.example",
        "note": "Letter of 29 January",
        **overrides,
    }


def test_list_shows_open_requests_oldest_deadline_first_marking_overdue_and_due_soon(officer_client, subscriber):
    today = timezone.localdate()
    later = request_due(today + timedelta(days=20), kind=RightsRequestKind.OBJECTION)
    soon = request_due(today + timedelta(days=3), kind=RightsRequestKind.ACCESS)
    overdue = request_due(today - timedelta(days=2), kind=RightsRequestKind.CORRECTION)
    closed = request_due(today - timedelta(days=9), status=RightsRequestStatus.DONE)

    html = officer_client.get(url("index")).content.decode()

    rows = [html.index(f'data-rights-request="{r.pk}"') for r in (overdue, soon, later)]
    assert rows == sorted(rows), "oldest deadline first"
    assert f'data-rights-request="{closed.pk}"' not in html
    overdue_row, soon_row, later_row = html[rows[0] : rows[1]], html[rows[1] : rows[2]], html[rows[2] :]
    assert '<span class="rights-overdue" data-urgency="overdue">Overdue by 2 days</span>' in overdue_row
    assert "Correction" in overdue_row
    assert f"{overdue.deadline:%a} {overdue.deadline.day} {overdue.deadline:%b %Y}" in overdue_row
    assert "3 days" in soon_row and "Due soon" in soon_row
    later_row = later_row.split("</tr>")[0]
    assert "20 days" in later_row and "Due soon" not in later_row and "Overdue" not in later_row
    assert url("closed") in html


def test_closed_list_shows_outcomes(officer_client, subscriber):
    request = open_request(subscriber)
    rights_request_close(request=request, status=RightsRequestStatus.REFUSED, outcome="Identity not confirmed")

    html = officer_client.get(url("closed")).content.decode()

    assert f'data-rights-request="{request.pk}"' in html
    assert "Refused</strong>: Identity not confirmed" in html


def test_record_form_defaults_to_today(officer_client):
    form = officer_client.get(url("record")).context["form"]

    assert form["received_on"].value() == timezone.localdate()


def test_recording_a_request_finds_the_subscriber_and_computes_the_deadline(officer_client, subscriber):
    response = officer_client.post(url("record"), record_form())

    request = RightsRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("detail", request.pk)
    assert (request.kind, request.channel, request.subscriber) == ("erasure", "post", subscriber)
    assert (request.received_on, request.deadline) == (date(2026, 1, 31), date(2026, 3, 2))
    assert request.note == "Letter of 29 January"
    assert request.created_by.email == "officer@larkspur-lune.example"


def test_recording_for_an_unknown_address_is_a_form_error(officer_client, subscriber):
    response = officer_client.post(url("record"), record_form(email="nobody@mail.example"))

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "No subscriber has the address nobody@mail.example. Check it against the request; if we hold nothing for "
        "this address there is nothing to record here."
    ]
    assert not RightsRequest.objects.exists()


def test_recording_a_date_in_the_future_is_a_form_error(officer_client, subscriber):
    tomorrow = timezone.localdate() + timedelta(days=1)

    response = officer_client.post(url("record"), record_form(received_on=tomorrow.isoformat()))

    assert response.status_code == 200
    assert "is in the future" in response.context["form"].errors["received_on"][0]
    assert not RightsRequest.objects.exists()


def test_detail_shows_the_request_and_the_persons_address(officer_client, subscriber):
    request = open_request(subscriber, note="Call on 31 January")

    html = officer_client.get(url("detail", request.pk)).content.decode()

    assert "person@mail.example" in html
    assert "Call on 31 January" in html
    assert "Monday 2 March 2026" in html
    assert "Mark done" in html and "Refuse (give the reason)" in html
    assert "Erase this person now" not in html, "only for erasure requests"


def test_mark_done_closes_the_request(officer_client, subscriber):
    request = open_request(subscriber)

    response = officer_client.post(url("close", request.pk), {"status": "done", "outcome": "Copy sent by post"})

    assert response["Location"] == url("detail", request.pk)
    request.refresh_from_db()
    assert (request.status, request.outcome) == (RightsRequestStatus.DONE, "Copy sent by post")
    assert request.closed_by.email == "officer@larkspur-lune.example"
    html = officer_client.get(url("detail", request.pk)).content.decode()
    assert "Closed as done." in html
    assert "Mark done" not in html, "a closed request offers no way to close it again"


def test_refusing_without_a_reason_changes_nothing_and_says_why(officer_client, subscriber):
    request = open_request(subscriber)

    response = officer_client.post(url("close", request.pk), {"status": "refused", "outcome": ""}, follow=True)

    request.refresh_from_db()
    assert request.status == RightsRequestStatus.OPEN
    assert "The request was not closed. Give the reason for refusing" in response.content.decode()


def test_closing_is_post_only(officer_client, subscriber):
    request = open_request(subscriber)

    response = officer_client.get(url("close", request.pk), {"status": "done"})

    assert response.status_code == 405
    request.refresh_from_db()
    assert request.status == RightsRequestStatus.OPEN


def test_closing_needs_the_csrf_token(subscriber):
    request = open_request(subscriber)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with_permissions("officer@larkspur-lune.example", "view", "change"))

    response = client.post(url("close", request.pk), {"status": "done"})

    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == RightsRequestStatus.OPEN


@pytest.mark.parametrize("who", ["customer", "staff without the permissions"])
def test_users_without_the_permissions_are_refused_every_view(outsider_clients, who, subscriber):
    client = outsider_clients[who]
    request = open_request(subscriber, kind=RightsRequestKind.ERASURE)

    for path in (
        url("index"),
        url("closed"),
        url("record"),
        url("detail", request.pk),
        url("erase_confirm", request.pk),
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/"), path
    client.post(url("record"), record_form())
    client.post(url("close", request.pk), {"status": "done"})
    client.post(url("erase", request.pk))

    assert RightsRequest.objects.count() == 1
    request.refresh_from_db()
    assert request.status == RightsRequestStatus.OPEN
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()


def test_staff_without_the_permissions_see_neither_menu_item_nor_panel(outsider_clients, subscriber):
    html = outsider_clients["staff without the permissions"].get("/admin/").content.decode()

    assert "Privacy requests" not in html


def test_viewing_alone_does_not_allow_recording_or_closing(client, subscriber):
    client.force_login(user_with_permissions("auditor@larkspur-lune.example", "view"))
    request = open_request(subscriber)

    detail = client.get(url("detail", request.pk))
    assert detail.status_code == 200
    assert "Mark done" not in detail.content.decode()
    assert "Record a request" not in client.get(url("index")).content.decode()
    assert client.get(url("record")).status_code == 302
    client.post(url("close", request.pk), {"status": "done"})

    request.refresh_from_db()
    assert request.status == RightsRequestStatus.OPEN


def test_dashboard_panel_shows_the_counts_and_links_to_the_list(officer_client):
    today = timezone.localdate()
    for days in (-1, 2, 28):
        request_due(today + timedelta(days=days))

    html = officer_client.get("/admin/").content.decode()

    assert "Privacy requests" in html
    assert '<td data-count="open">3</td>' in html
    assert '<td data-count="due_soon">1</td>' in html
    assert '<td data-count="overdue"><span class="rights-overdue">1</span></td>' in html
    assert f'href="{url("index")}"' in html


# Erasure from a request (the erasure service itself is tested in its own module) ------------------------------------


def test_erase_this_person_now_asks_for_confirmation_then_erases_and_closes_the_request(officer_client, subscriber):
    # Given an open erasure request about a subscriber
    request = open_request(subscriber, kind=RightsRequestKind.ERASURE)

    # The request's page offers the button, which leads to a confirmation step that changes nothing
    detail = officer_client.get(url("detail", request.pk)).content.decode()
    assert "Erase this person now" in detail and url("erase_confirm", request.pk) in detail
    confirm = officer_client.get(url("erase_confirm", request.pk)).content.decode()
    assert "This cannot be undone." in confirm
    assert "person@mail.example" in confirm
    assert f'action="{url("erase", request.pk)}"' in confirm
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()

    # When staff confirm
    response = officer_client.post(url("erase", request.pk), follow=True)

    # Then the person is gone, the erasure is logged against the request, and the request is done
    assert not Subscriber.objects.filter(email="person@mail.example").exists()
    request.refresh_from_db()
    assert request.subscriber is None
    assert request.status == RightsRequestStatus.DONE
    record = ErasureRecord.objects.get()
    assert (record.request, record.source, record.performed_by.email) == (
        request,
        ErasureSource.STAFF,
        "officer@larkspur-lune.example",
    )
    html = response.content.decode()
    assert "Erased." in html
    assert "No longer held (erased)" in html
    assert "person@mail.example" not in html


def test_erase_is_post_only_and_only_for_an_open_erasure_request(officer_client, subscriber):
    access = open_request(subscriber, kind=RightsRequestKind.ACCESS)
    erasure = open_request(subscriber, kind=RightsRequestKind.ERASURE)

    assert officer_client.get(url("erase", erasure.pk)).status_code == 405
    officer_client.post(url("erase", access.pk))

    assert Subscriber.objects.filter(pk=subscriber.pk).exists()
    assert not ErasureRecord.objects.exists()


def test_staff_send_a_copy_for_an_access_request_and_it_closes_when_the_email_goes(
    officer_client, subscriber, outbox, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.ACCESS_EXPORT_ROOT = tmp_path
    rights_request = open_request(subscriber, kind=RightsRequestKind.ACCESS)
    assert "Email them a copy of their data" in officer_client.get(url("detail", rights_request.pk)).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = officer_client.post(url("export", rights_request.pk), follow=True)

    assert "The copy is being prepared" in response.content.decode()
    assert "/account/privacy/export/" in outbox.last_to("person@mail.example").text
    rights_request.refresh_from_db()
    assert rights_request.status == RightsRequestStatus.DONE
    assert rights_request.exports.get().requested_by.email == "officer@larkspur-lune.example"


def test_staff_record_an_objection_to_sharing(officer_client, subscriber):
    from subscribers.selectors import third_party_objection_exists

    rights_request = open_request(subscriber, kind=RightsRequestKind.OBJECTION)

    officer_client.post(url("objection", rights_request.pk))

    assert third_party_objection_exists(email="person@mail.example")
    rights_request.refresh_from_db()
    assert rights_request.status == RightsRequestStatus.DONE
    assert officer_client.post(url("objection", rights_request.pk)).status_code == 302, "a second post changes nothing"


def test_copy_and_objection_actions_need_the_change_permission(subscriber):
    from subscribers.selectors import third_party_objection_exists

    client = Client()
    client.force_login(user_with_permissions("auditor2@larkspur-lune.example", "view"))
    access = open_request(subscriber, kind=RightsRequestKind.ACCESS)
    objection = open_request(subscriber, kind=RightsRequestKind.OBJECTION)

    for action, rights_request in (("export", access), ("objection", objection)):
        response = client.post(url(action, rights_request.pk))
        assert (response.status_code, response["Location"]) == (302, "/admin/"), "Wagtail's refusal"
    assert not access.exports.exists()
    assert not third_party_objection_exists(email="person@mail.example")
