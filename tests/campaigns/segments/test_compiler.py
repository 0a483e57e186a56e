"""The segment compiler: each field and operator against real rows, nesting, and values that stay values."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigns.segments.compiler import segment_q
from campaigns.segments.selectors import segment_count, segment_count_planning, segment_sample
from subscribers.models import Subscriber

pytestmark = pytest.mark.django_db


def names(definition) -> set[str]:
    return set(Subscriber.objects.filter(segment_q(definition)).values_list("first_name", flat=True))


def one(field: str, op: str, value=None) -> dict:
    condition = {"field": field, "op": op}
    if value is not None:
        condition["value"] = value
    return {"all": [condition]}


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        # text
        ("attribute:country", "equals", "Scotland", {"Ada"}),
        ("attribute:country", "equals", "scotland", set()),  # equality is exact: it is what the index serves
        ("attribute:country", "not_equals", "Scotland", {"Bob", "Cat"}),  # no value is "not Scotland" too
        ("attribute:country", "not_equals", "Scotland ", {"Bob", "Cat"}),  # asked for as values are stored
        ("attribute:country", "contains", "COT", {"Ada"}),
        ("attribute:country", "is_set", None, {"Ada", "Bob"}),
        ("attribute:country", "is_not_set", None, {"Cat"}),
        # number
        ("attribute:spend", "equals", 40, {"Bob"}),
        ("attribute:spend", "not_equals", 40, {"Ada", "Cat"}),
        ("attribute:spend", "less_than", 120.5, {"Bob"}),
        ("attribute:spend", "greater_than", 100, {"Ada"}),
        ("attribute:spend", "is_not_set", None, {"Cat"}),
        # date (Ada's last order 10 days ago, Bob's 400)
        ("attribute:last_order", "within_days", 30, {"Ada"}),
        ("attribute:last_order", "within_days", 9, set()),
        ("attribute:last_order", "is_set", None, {"Ada", "Bob"}),
        # yes or no
        ("attribute:vip", "equals", True, {"Ada"}),
        ("attribute:vip", "equals", False, {"Bob"}),
        ("attribute:vip", "is_not_set", None, {"Cat"}),
        # one of a list
        ("attribute:metal", "equals", "silver", {"Bob"}),
        ("attribute:metal", "not_equals", "silver", {"Ada", "Cat"}),
        ("attribute:metal", "one_of", ["gold", "platinum"], {"Ada"}),
        ("attribute:metal", "one_of", ["gold", "silver"], {"Ada", "Bob"}),
        # topics: an active subscription only (Bob's to Offers is pending)
        ("topic", "subscribed", "offers", {"Ada"}),
        ("topic", "not_subscribed", "offers", {"Bob", "Cat"}),
        ("topic", "subscribed", "general", {"Ada"}),
        # sign-up date (Ada 100 days ago, Bob 730, Cat today)
        ("signed_up", "within_days", 200, {"Ada", "Cat"}),
        ("signed_up", "within_days", 1, {"Cat"}),
        # sign-up source: the first way in (Ada's later import does not count)
        ("signup_source", "equals", "public_form", {"Ada"}),
        ("signup_source", "equals", "import", {"Bob"}),
        ("signup_source", "one_of", ["import", "api"], {"Bob", "Cat"}),
        # account or not
        ("account", "equals", True, {"Ada"}),
        ("account", "equals", False, {"Bob", "Cat"}),
        # the customer's own details
        ("profile:country", "equals", "gb", {"Ada"}),
        ("profile:country", "equals", "FR", set()),
        ("profile:town", "equals", "EDINBURGH", {"Ada"}),
        ("profile:town", "contains", "burgh", {"Ada"}),
        # campaigns received (Ada: two this week; Bob: one a month ago; Cat's attempt failed, so not received)
        ("received", "within_days", 7, {"Ada"}),
        ("received", "within_days", 60, {"Ada", "Bob"}),
        ("received", "fewer_than", {"count": 2, "days": 7}, {"Bob", "Cat"}),
        ("received", "fewer_than", {"count": 3, "days": 7}, {"Ada", "Bob", "Cat"}),
        ("received", "fewer_than", {"count": 1, "days": 60}, {"Cat"}),
    ],
)
def test_each_field_and_operator_selects_exactly_the_people_it_describes(people, field, op, value, expected):
    assert names(one(field, op, value)) == expected


def test_dates_before_and_after_leave_out_the_day_itself(people):
    day = people.ada.attribute_values.get(attribute__key="last_order").date
    iso = day.isoformat()
    assert names(one("attribute:last_order", "before", iso)) == {"Bob"}
    assert names(one("attribute:last_order", "after", iso)) == set()
    assert names(one("attribute:last_order", "after", (day - timedelta(days=1)).isoformat())) == {"Ada"}
    joined = timezone.localtime(people.ada.created_at).date()
    assert names(one("signed_up", "before", joined.isoformat())) == {"Bob"}
    assert names(one("signed_up", "after", joined.isoformat())) == {"Cat"}


def test_a_send_of_a_campaign_received_counts_only_deliveries_accepted_by_ses(people):
    assert names(one("received", "campaign", people.campaign_id)) == {"Ada", "Bob"}


def test_groups_combine_with_and_or_and_none_nested(people):
    scots_or_wales = {
        "any": [
            {"field": "attribute:country", "op": "equals", "value": "Scotland"},
            {"field": "attribute:country", "op": "equals", "value": "Wales"},
        ]
    }
    assert names(scots_or_wales) == {"Ada", "Bob"}
    assert names({"all": [scots_or_wales, {"field": "account", "op": "equals", "value": False}]}) == {"Bob"}
    assert names({"none": [scots_or_wales]}) == {"Cat"}
    deep = {"all": [{"any": [{"none": [{"all": [{"field": "account", "op": "equals", "value": True}]}]}]}]}
    assert names(deep) == {"Bob", "Cat"}


def test_the_empty_definition_selects_everyone(people):
    assert names({"all": []}) == {"Ada", "Bob", "Cat"}


def test_count_and_sample_agree_with_the_definition(people):
    definition = one("signed_up", "within_days", 200)

    assert segment_count(definition) == 2
    sample = segment_sample(definition, n=5)
    assert [s.first_name for s in sample] == ["Cat", "Ada"]  # newest first
    assert len(segment_sample({"all": []}, n=1)) == 1


ATTRIBUTES_ONLY = {
    "any": [
        {"all": [one("attribute:country", "equals", "Scotland"), one("attribute:spend", "greater_than", 100)]},
        {"none": [one("attribute:vip", "is_set")]},
    ]
}


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (ATTRIBUTES_ONLY, 2),  # Ada, and Cat who holds no value
        ({"all": [ATTRIBUTES_ONLY, one("account", "equals", True)]}, 1),
        ({"all": []}, 3),
    ],
)
def test_the_count_is_the_same_whatever_joins_it_is_planned_with(people, definition, expected):
    """An attribute-only count runs with hash joins on PostgreSQL; the answer must not depend on the plan."""
    assert segment_count(definition) == expected
    for hash_joins in (True, False):
        with segment_count_planning(definition, hash_joins=hash_joins):
            assert Subscriber.objects.filter(segment_q(definition)).count() == expected


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_counting_leaves_the_callers_transaction_planning_as_it_was(people):
    def nested_loops() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('enable_nestloop')")
            return cursor.fetchone()[0]

    with transaction.atomic():
        with segment_count_planning(ATTRIBUTES_ONLY):
            assert nested_loops() == "off"
        assert nested_loops() == "on"
        assert segment_count(ATTRIBUTES_ONLY) == 2
        assert nested_loops() == "on"
    with segment_count_planning({"all": [one("account", "equals", True)]}):
        assert nested_loops() == "on"  # not attribute-only: the planner's own choice


def test_sql_written_into_a_value_is_only_a_value(people):
    attack = "x'); DROP TABLE subscribers_subscriber; --"
    people.bob.attribute_values.filter(attribute__key="country").update(text=attack)

    definition = {
        "any": [
            {"field": "attribute:country", "op": "equals", "value": attack},
            {"field": "profile:town", "op": "contains", "value": "%' OR '1'='1"},
        ]
    }
    queryset = Subscriber.objects.filter(segment_q(definition))
    sql, params = queryset.query.sql_with_params()

    assert attack in params and "DROP TABLE" not in sql
    assert set(queryset.values_list("first_name", flat=True)) == {"Bob"}  # the stored text matched, nothing else
    assert "subscribers_subscriber" in connection.introspection.table_names()
    assert Subscriber.objects.count() == 3


def test_days_are_the_sites_whatever_time_zone_the_person_looking_has(people):
    # Given Ada, who signed up at 11:00 on 8 December (UTC, and London's time) and last ordered on 7 December
    Subscriber.objects.filter(pk=people.ada.pk).update(created_at=datetime(2026, 12, 8, 11, 0, tzinfo=UTC))
    people.ada.attribute_values.filter(attribute__key="last_order").update(date=date(2026, 12, 7))
    noon = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)  # already 9 December in Kiribati (UTC+14)
    definitions = [
        {"all": [{"field": "signed_up", "op": "before", "value": "2026-12-09"}, one("attribute:vip", "equals", True)]},
        {"all": [one("attribute:last_order", "within_days", 1), one("attribute:vip", "equals", True)]},
    ]

    def chosen(definition) -> set[str]:
        return set(Subscriber.objects.filter(segment_q(definition, now=noon)).values_list("first_name", flat=True))

    # When staff whose own time zone is Kiribati's count them (the admin activates each person's zone)
    at_the_site = [chosen(d) for d in definitions]
    with timezone.override(ZoneInfo("Pacific/Kiritimati")):
        in_kiribati = [chosen(d) for d in definitions]

    # Then the days are the shop's (London's) for them too: the count they see is the audience the send writes
    assert at_the_site == [{"Ada"}, {"Ada"}]
    assert in_kiribati == at_the_site


def test_a_shop_in_another_time_zone_counts_its_own_days(people, settings):
    settings.SHOP_TIME_ZONE = "Pacific/Kiritimati"  # as its automations' date triggers do
    Subscriber.objects.filter(pk=people.ada.pk).update(created_at=datetime(2026, 12, 8, 11, 0, tzinfo=UTC))
    people.ada.attribute_values.filter(attribute__key="last_order").update(date=date(2026, 12, 7))
    noon = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)  # 9 December there: Ada joined on the 9th, ordered two days ago
    vip = one("attribute:vip", "equals", True)["all"]

    def chosen(condition) -> set[str]:
        definition = {"all": [condition, *vip]}
        return set(Subscriber.objects.filter(segment_q(definition, now=noon)).values_list("first_name", flat=True))

    assert chosen({"field": "signed_up", "op": "before", "value": "2026-12-09"}) == set()
    assert chosen({"field": "signed_up", "op": "before", "value": "2026-12-10"}) == {"Ada"}
    assert chosen({"field": "attribute:last_order", "op": "within_days", "value": 1}) == set()
    assert chosen({"field": "attribute:last_order", "op": "within_days", "value": 2}) == {"Ada"}


def test_the_first_and_last_days_of_the_calendar_are_dates_like_any_other(people):
    everyone = {"Ada", "Bob", "Cat"}
    after_the_last = one("signed_up", "after", "9999-12-31")

    assert names(after_the_last) == set()
    assert names({"none": after_the_last["all"]}) == everyone
    assert names(one("signed_up", "before", "0001-01-01")) == set()
    assert names(one("attribute:last_order", "after", "9999-12-31")) == set()
    # Counted, and embedded in SQL as the send's snapshot embeds it
    assert segment_count(after_the_last) == 0
    assert segment_count({"any": [*after_the_last["all"], one("account", "equals", True)["all"][0]]}) == 1
    Subscriber.objects.filter(segment_q(after_the_last)).values("pk").query.sql_with_params()
