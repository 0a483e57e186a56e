"""Attribute columns in the CSV import: each type parsed as the admin and the API parse it, a bad value a row error
naming its column, an empty cell leaving the value alone, the first row with a value winning, the attribute locked
while the import writes, and the columns matched by key or label."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection  # noqa: F401 - read by the skipif conditions

from subscribers.attributevalues import attribute_value_parse, stored_value
from subscribers.models import (
    Attribute,
    AttributeType,
    AttributeValue,
    Subscriber,
    SuppressionReason,
    SuppressionScope,
)
from subscribers.services import suppression_add
from subscribers.services.errors import ImportInterrupted, ImportMappingError
from subscribers.services.imports import ImportOptions, sql
from subscribers.services.imports import rows as rows_module
from subscribers.services.imports.reader import attribute_columns_guess, csv_open, mapping_check, mapping_guess
from subscribers.services.imports.rows import RowChecker
from tests.factories import SubscriberFactory, TopicFactory
from tests.subscribers.test_imports import HEADER, MAPPING, WORDING, run, table_fingerprints

pytestmark = pytest.mark.django_db

COLUMNS = "tier,spend,birthday,vip,nickname"
ATTR_MAPPING = {**MAPPING, **{f"attribute:{key}": key for key in COLUMNS.split(",")}}


@pytest.fixture
def attributes():
    made = {
        "tier": Attribute.objects.create(key="tier", label="Loyalty tier", type=AttributeType.CHOICE,
                                         choices=["Gold", "Silver"]),
        "spend": Attribute.objects.create(key="spend", label="Spend", type=AttributeType.NUMBER),
        "birthday": Attribute.objects.create(key="birthday", label="Birthday", type=AttributeType.DATE),
        "vip": Attribute.objects.create(key="vip", label="VIP", type=AttributeType.BOOLEAN),
        "nickname": Attribute.objects.create(key="nickname", label="Nickname", type=AttributeType.TEXT),
    }
    return made


def row(email: str, values: str = ",,,,", topic: str = "general") -> str:
    return f"{email},Ann,{topic},consent,Shop checkout,2024-05-01,{WORDING},,,{values}\n"


def header() -> str:
    return HEADER.rstrip("\n") + "," + COLUMNS + "\n"


def values_of(email: str) -> dict:
    return {
        v.attribute.key: stored_value(v)
        for v in AttributeValue.objects.filter(subscriber__email=email).select_related("attribute")
    }


def test_a_value_of_each_type_is_imported_as_the_admin_would_store_it(write, general, attributes):
    path = write(header() + row("ann@mail.example", "gold,-12.50,1990-02-28,Yes,Annie"))

    report = run(path, mapping=ATTR_MAPPING)

    assert report.committed and report.error_rows == 0
    assert report.attribute_values == 5
    assert values_of("ann@mail.example") == {
        "tier": "Gold",
        "spend": Decimal("-12.5"),
        "birthday": date(1990, 2, 28),
        "vip": True,
        "nickname": "Annie",
    }


def test_an_existing_subscriber_already_subscribed_gets_the_values(write, general, attributes):
    path = write(header() + row("old@mail.example", "silver,,,no,"))
    run(path)  # subscribed first, without the attribute columns
    assert values_of("old@mail.example") == {}

    report = run(path, mapping=ATTR_MAPPING)

    assert report.already_active == 1
    assert values_of("old@mail.example") == {"tier": "Silver", "vip": False}


@pytest.mark.parametrize(
    ("values", "column", "problem"),
    [
        ("bronze,,,,", "tier", "is not one of the choices (Gold, Silver)."),
        (",12.5x,,,", "spend", "is not a number"),
        (",,1990-02-31,,", "birthday", "is not a date (use YYYY-MM-DD)."),
        (",,,maybe,", "vip", "is not yes or no"),
        (",,,,=HYPERLINK(1)", "nickname", "a spreadsheet would run it as a formula"),
        (",-SUM(1),,,", "spend", "a spreadsheet would run it as a formula"),
    ],
)
def test_a_bad_value_is_a_row_error_naming_its_column_and_changes_nothing(
    write, general, attributes, values, column, problem
):
    path = write(header() + row("ann@mail.example", values))
    before = table_fingerprints()

    report = run(path, mapping=ATTR_MAPPING)

    assert report.error_rows == 1 and not report.committed
    [[line, named, text]] = report.errors
    assert (line, named) == (2, column)
    assert problem in text
    cell = next(cell for cell in values.split(",") if cell)
    assert cell not in text, "a row error never repeats the cell: errors are kept, and may outlive an erasure"
    assert table_fingerprints() == before


def test_the_dry_run_reports_a_bad_value_the_same_and_writes_nothing(write, general, attributes):
    path = write(header() + row("ann@mail.example", ",,,maybe,") + row("bob@mail.example", "gold,,,,"))
    before = table_fingerprints()

    dry = run(path, mapping=ATTR_MAPPING, dry_run=True)
    real = run(path, mapping=ATTR_MAPPING)

    assert dry.errors == real.errors == [[2, "vip", "is not yes or no (use yes, no, true, false, 1 or 0)."]]
    assert table_fingerprints() == before


def test_an_empty_cell_keeps_the_value_someone_holds(write, general, attributes):
    ann = SubscriberFactory(email="ann@mail.example")
    AttributeValue.objects.create(subscriber=ann, attribute=attributes["spend"], number=Decimal("40"))
    AttributeValue.objects.create(subscriber=ann, attribute=attributes["tier"], text="Silver")

    run(write(header() + row("ann@mail.example", "gold, ,,,")), mapping=ATTR_MAPPING)

    assert values_of("ann@mail.example") == {"spend": Decimal("40"), "tier": "Gold"}


def test_the_first_row_of_an_address_with_a_value_wins(write, general, attributes):
    rows = (
        row("ann@mail.example", ",,,,")
        + row("ANN@mail.example", "silver,1,,,")  # a duplicate of the first row (same topic)
        + row("ann@mail.example", "gold,2,,yes,")
        + row("bob@mail.example", ",,,,")
    )

    report = run(write(header() + rows), mapping=ATTR_MAPPING)

    assert report.committed and report.duplicates == 2
    assert values_of("ann@mail.example") == {"tier": "Silver", "spend": Decimal("1"), "vip": True}
    assert values_of("bob@mail.example") == {}


def test_a_new_address_on_two_topics_takes_its_first_rows_values(write, general, attributes):
    TopicFactory(name="Private Sales", slug="private-sales")
    rows = (
        row("ann@mail.example", "gold,1,,,")
        + row("ann@mail.example", "silver,2,1990-02-28,,", topic="private-sales")  # the same address, another topic
        + row("bob@mail.example", "silver,3,,,")
    )

    report = run(write(header() + rows), mapping=ATTR_MAPPING)

    assert report.committed and report.duplicates == 0 and report.subscribers_created == 2
    assert report.attribute_values == 5
    assert values_of("ann@mail.example") == {"tier": "Gold", "spend": Decimal("1"), "birthday": date(1990, 2, 28)}
    assert values_of("bob@mail.example") == {"tier": "Silver", "spend": Decimal("3")}


def test_new_and_existing_subscribers_get_their_values_in_one_import(write, general, attributes):
    old = SubscriberFactory(email="old@mail.example")
    AttributeValue.objects.create(subscriber=old, attribute=attributes["spend"], number=Decimal("40"))
    rows = row("old@mail.example", "gold,41,,,") + row("new@mail.example", "silver,7,,,")

    report = run(write(header() + rows), mapping=ATTR_MAPPING)

    assert report.committed and report.subscribers_created == 1 and report.attribute_values == 4
    assert values_of("old@mail.example") == {"tier": "Gold", "spend": Decimal("41")}
    assert values_of("new@mail.example") == {"tier": "Silver", "spend": Decimal("7")}


def test_a_cell_read_before_gives_the_same_value_and_a_bad_one_is_reported_on_every_line(
    write, general, attributes, monkeypatch
):
    monkeypatch.setattr(rows_module, "VALUES_READ_MAX", 2)  # so that the fourth amount is past what is remembered
    parsed = []

    def parse(attribute, raw):  # the parser itself, counted
        parsed.append((attribute.key, raw))
        return attribute_value_parse(attribute, raw)

    monkeypatch.setattr(rows_module, "attribute_value_parse", parse)
    lines = [row(f"r{n}@mail.example", f"gold,{amount},,maybe,") for n, amount in enumerate(["1", "2", "1", "3", "3"])]

    report = run(write(header() + "".join(lines)), mapping=ATTR_MAPPING, dry_run=True)

    problem = "is not yes or no (use yes, no, true, false, 1 or 0)."
    assert report.errors == [[line, "vip", problem] for line in range(2, 7)]
    parsed.clear()
    with open(write(header() + "".join(lines)), "rb") as handle:
        stream = csv_open(handle.name, handle)
        positions = mapping_check(columns=stream.columns, mapping=ATTR_MAPPING)
        checker = RowChecker(positions=positions, columns=stream.columns, options=ImportOptions(mapping=ATTR_MAPPING))
        for line, cells in stream.rows():
            checker.check(line, cells)
    # Each text parsed once, but "3", which came past the two remembered, and "maybe", refused on every line.
    assert [raw for key, raw in parsed if key == "spend"] == ["1", "2", "3", "3"]
    assert [raw for key, raw in parsed if key == "tier"] == ["gold"]
    assert [raw for key, raw in parsed if key == "vip"] == ["maybe"] * 5
    remembered = {a.key: len(read) for a, read in zip(checker.attributes, checker._values_read, strict=True)}
    # The empty cells once each, "gold" once, the first two amounts only, and no refused "maybe".
    assert remembered == {"birthday": 1, "nickname": 1, "spend": 2, "tier": 1, "vip": 0}
    fixed = [line.replace(",maybe,", ",yes,") for line in lines]
    report = run(write(header() + "".join(fixed)), mapping=ATTR_MAPPING)
    assert report.committed and report.attribute_values == 15
    spent = AttributeValue.objects.filter(attribute=attributes["spend"]).order_by("subscriber__email")
    assert [(v.subscriber.email, v.number) for v in spent] == [
        (f"r{n}@mail.example", Decimal(amount)) for n, amount in enumerate(["1", "2", "1", "3", "3"])
    ]


def test_the_value_someone_already_holds_is_left_as_it_was(write, general, attributes):
    ann = SubscriberFactory(email="ann@mail.example")
    held = AttributeValue.objects.create(
        subscriber=ann, attribute=attributes["spend"], number=Decimal("40"), updated_at=datetime(2020, 1, 1, tzinfo=UTC)
    )

    report = run(write(header() + row("ann@mail.example", ",40.0,,,")), mapping=ATTR_MAPPING)

    assert report.attribute_values == 0
    held.refresh_from_db()
    assert held.updated_at == datetime(2020, 1, 1, tzinfo=UTC)


def test_a_suppressed_address_gets_no_values_even_when_its_subscriber_exists(write, general, attributes):
    SubscriberFactory(email="bounced@mail.example")
    suppression_add(email="bounced@mail.example", scope=SuppressionScope.MARKETING, reason=SuppressionReason.BOUNCE)

    report = run(write(header() + row("bounced@mail.example", "gold,,,,")), mapping=ATTR_MAPPING)

    assert report.suppressed == 1 and report.attribute_values == 0
    assert not AttributeValue.objects.exists()


def test_a_suppressed_address_on_two_rows_of_one_topic_gets_no_values(write, general, attributes):
    SubscriberFactory(email="bounced@mail.example")
    suppression_add(email="bounced@mail.example", scope=SuppressionScope.MARKETING, reason=SuppressionReason.BOUNCE)
    # The second row is a duplicate (same address and topic), which comes before "suppressed" in the plan.
    rows = row("bounced@mail.example", "gold,,,,") + row("bounced@mail.example", "silver,5,,,")

    report = run(write(header() + rows), mapping=ATTR_MAPPING)

    assert report.suppressed == 1 and report.duplicates == 1 and report.attribute_values == 0
    assert not AttributeValue.objects.exists()


def test_an_unknown_attribute_in_the_mapping_is_refused_naming_it(write, general, attributes):
    path = write(header() + row("ann@mail.example"))

    with pytest.raises(ImportMappingError, match="There is no attribute “colour”"):
        run(path, mapping={**MAPPING, "attribute:colour": "tier"})
    assert not Subscriber.objects.exists()


def test_attribute_columns_are_matched_by_key_or_label_in_any_case(attributes):
    columns = ["Email", "Topic", "TIER", "vip", "spend", "Birthday", "Source"]
    guessed = attribute_columns_guess(columns, Attribute.objects.all(), mapping_guess(columns))

    assert guessed["attribute:tier"] == "TIER"
    assert guessed["attribute:vip"] == "vip"
    assert guessed["attribute:birthday"] == "Birthday"
    assert guessed["attribute:spend"] == "spend"
    assert guessed["consent_source"] == "Source"
    assert "attribute:nickname" not in guessed
    by_label = attribute_columns_guess(["Email", "loyalty TIER"], Attribute.objects.all(), {"email": "Email"})
    assert by_label["attribute:tier"] == "loyalty TIER"


@pytest.fixture
def planned(write):
    """Stage and plan a file with attribute columns as the engine does, leaving the writes to the test."""

    def plan(text: str):
        path = write(header() + text)
        with open(path, "rb") as handle:
            stream = csv_open(path, handle)
            positions = mapping_check(columns=stream.columns, mapping=ATTR_MAPPING)
            checker = RowChecker(
                positions=positions, columns=stream.columns, options=ImportOptions(mapping=ATTR_MAPPING)
            )
            sql.staging_create(attributes=checker.attributes)
            with sql.StagingWriter(attributes=checker.attributes) as staging:
                for line, cells in stream.rows():
                    staging.add(checker.check(line, cells)[0])
        return sql.plan_build(for_writing=True, attributes=checker.attributes), checker.attributes

    yield plan
    sql.staging_drop()


postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the import's locks are PostgreSQL's")


@postgres_only
@pytest.mark.parametrize("change", ["delete", "retype"])
def test_an_attribute_deleted_or_changed_after_the_file_was_checked_stops_the_import(
    planned, general, attributes, change
):
    counts, checked = planned(row("ann@mail.example", "gold,1,,,"))
    if change == "delete":
        Attribute.objects.filter(key="spend").delete()
    else:
        Attribute.objects.filter(key="tier").update(choices=["Gold"])

    with pytest.raises(ImportInterrupted, match="An attribute named in the file was deleted or changed"):
        sql.plan_write(now=datetime.now(UTC), policy_version_id=None, counts=counts, attributes=checked)


@postgres_only
def test_a_subscriber_deleted_after_the_plan_gets_no_value_and_nothing_dangles(planned, general, attributes):
    SubscriberFactory(email="old@mail.example")
    counts, checked = planned(row("old@mail.example", "gold,,,,") + row("new@mail.example", "silver,,,,"))
    Subscriber.objects.filter(email="old@mail.example").delete()

    written = sql.plan_write(now=datetime.now(UTC), policy_version_id=None, counts=counts, attributes=checked)

    assert written["attribute_values"] == 1
    assert AttributeValue.objects.get().subscriber.email == "new@mail.example"
    assert not AttributeValue.objects.exclude(subscriber_id__in=Subscriber.objects.values("pk")).exists()


@postgres_only
def test_a_new_address_added_by_someone_else_after_the_plan_gets_no_value_from_the_import(
    planned, general, attributes
):
    rows = row("new@mail.example") + row("new@mail.example", "gold,3,,,") + row("other@mail.example", "silver,,,,")
    counts, checked = planned(rows)  # the second row is a duplicate carrying the values
    SubscriberFactory(email="new@mail.example")  # signed up meanwhile

    written = sql.plan_write(now=datetime.now(UTC), policy_version_id=None, counts=counts, attributes=checked)

    assert written["changed_meanwhile"] == 1 and written["attribute_values"] == 1
    assert values_of("new@mail.example") == {}
    assert values_of("other@mail.example") == {"tier": "Silver"}
    assert not AttributeValue.objects.exclude(subscriber_id__in=Subscriber.objects.values("pk")).exists()
