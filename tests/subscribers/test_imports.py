"""The CSV import engine: dry run, whole-file refusals, row errors with line numbers, dedupe, suppression, evidence."""

import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from subscribers.addresses import address_hmac
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ErasureSource,
    LawfulBasis,
    PrivacyPolicyVersion,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
)
from subscribers.services import subscriber_withdraw_all, suppression_add
from subscribers.services.erasure import subscriber_erase
from subscribers.services.errors import ImportFileRefused, ImportMappingError
from subscribers.services.imports import ImportOptions, mapping_guess, subscribers_import
from subscribers.wording import wording_hash
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

HEADER = "Email,First name,Topic,Lawful basis,Source,Consent date,Wording,Policy version,Order reference\n"
WORDING = "Tick to get our news and offers by email."
MAPPING = {
    "email": "Email",
    "first_name": "First name",
    "topic": "Topic",
    "lawful_basis": "Lawful basis",
    "consent_source": "Source",
    "consent_date": "Consent date",
    "consent_wording": "Wording",
    "policy_version": "Policy version",
    "order_reference": "Order reference",
}


def good(email: str, topic: str = "general", name: str = "Ann") -> str:
    return f"{email},{name},{topic},consent,Shop checkout,2024-05-01,{WORDING},,\n"


def run(path, **options):
    options.setdefault("mapping", MAPPING)
    return subscribers_import(path=path, options=ImportOptions(**options))


def table_fingerprints() -> dict[str, str]:
    """Every table's full contents, hashed: a dry run must leave every one of them as it was."""
    prints = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            if connection.vendor == "postgresql":
                cursor.execute(f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {quoted} t")  # noqa: S608
            else:
                cursor.execute(f"SELECT COUNT(*) FROM {quoted}")  # noqa: S608
            prints[table] = cursor.fetchone()[0]
    return prints


def test_a_dry_run_reports_what_would_happen_and_changes_no_table(write, general):
    SubscriptionFactory(subscriber__email="already@mail.example")
    path = write(HEADER + good("new@mail.example") + good("already@mail.example") + good("NEW@mail.example"))
    before = table_fingerprints()

    report = run(path, dry_run=True)

    assert table_fingerprints() == before
    assert (report.rows, report.subscribers_created, report.subscriptions_created) == (3, 1, 1)
    assert (report.already_active, report.duplicates, report.consent_events) == (1, 1, 1)
    assert report.dry_run and not report.committed
    real = run(path)
    assert (real.subscribers_created, real.subscriptions_created, real.consent_events) == (1, 1, 1)
    assert real.committed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (
            (HEADER + good("ann@mail.example")).encode() + b"caf\xe9@mail.example,x\n",
            "Line 3 is not UTF-8 (byte ",
        ),
        (b"ann@mail.example,Ann\nbob@mail.example,Bob\n", "Line 1 holds email addresses, not column names"),
        (b"\n\n", "The file has no header row"),
        (b"Email,Email\nann@mail.example,x\n", "no two the same name"),
    ],
    ids=["empty", "not-utf8", "no-header", "blank-header", "duplicate-column"],
)
def test_a_malformed_file_is_refused_with_a_clear_message_and_nothing_is_imported(write, general, content, message):
    path = write(content)

    with pytest.raises(ImportFileRefused) as refused:
        run(path, mapping={"email": "Email"}, topic=general, skip_bad_rows=True)

    assert message in str(refused.value)
    assert not Subscriber.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_the_encoding_error_names_the_line_and_the_byte(write, general):
    path = write(b"Email,First name\nann@mail.example,Ann\nbob@mail.example,Jos\xe9\n")

    with pytest.raises(ImportFileRefused) as refused:
        run(path, mapping={"email": "Email"}, topic=general, skip_bad_rows=True)

    offset = len(b"Email,First name\nann@mail.example,Ann\nbob@mail.example,Jos") + 1
    assert str(refused.value).startswith(f"Line 3 is not UTF-8 (byte {offset} of the file, 0xe9).")
    assert refused.value.line == 3


def test_a_utf8_byte_order_mark_is_accepted(write, general):
    path = write("\ufeff".encode() + (HEADER + good("ann@mail.example")).encode())

    report = run(path)

    assert report.subscriptions_created == 1


def test_a_ten_megabyte_line_is_refused_quickly_without_reading_it_whole(write, general, settings):
    settings.IMPORT_MAX_LINE_BYTES = 1024 * 1024
    path = write((HEADER + good("ann@mail.example")).encode() + b"x" * (10 * 1024 * 1024) + b"\n" + b"y@m.example\n")

    started = time.monotonic()
    with pytest.raises(ImportFileRefused) as refused:
        run(path, skip_bad_rows=True)

    assert "Line 3 is longer than 1 MiB" in str(refused.value)
    assert time.monotonic() - started < 5
    assert not Subscriber.objects.exists()


def test_a_file_over_the_size_limit_is_refused(write, general, settings):
    settings.IMPORT_MAX_FILE_BYTES = 100
    path = write(HEADER + good("ann@mail.example") * 3)

    with pytest.raises(ImportFileRefused, match="over the limit of"):
        run(path)


def test_a_file_without_an_email_column_is_refused(write, general):
    path = write("Name,Town\nAnn,Leeds\n")

    assert "email" not in mapping_guess(["Name", "Town"])
    with pytest.raises(ImportMappingError, match="No column is chosen for the email address"):
        run(path, mapping=mapping_guess(["Name", "Town"]), topic=general)


def test_a_formula_cell_is_a_row_error_and_nothing_is_imported_without_skip_bad_rows(write, general):
    path = write(HEADER + good("ann@mail.example") + good("bob@mail.example", name='=HYPERLINK("http://x.example")'))

    report = run(path)

    assert report.refused_for_errors and not report.committed
    assert report.errors == [[3, "First name", pytest.approx(report.errors[0][2])]]
    assert "spreadsheet would run it as a formula" in report.errors[0][2]
    assert "HYPERLINK" in report.errors[0][2] and "x.example" not in report.errors[0][2]
    assert not Subscriber.objects.exists()


def test_an_address_starting_with_a_sign_is_an_address_but_a_formula_in_the_email_column_is_not(write, general):
    path = write(
        HEADER
        + good("-offers@mail.example")
        + good("+ann@mail.example")
        + good("-cmd|'/c calc'!A0@mail.example")  # a valid address that a spreadsheet would run
        + good("=ann@mail.example")
    )

    report = run(path, skip_bad_rows=True)

    assert [(line, column) for line, column, _ in report.errors] == [(4, "Email"), (5, "Email")]
    assert all("formula" in problem for _, _, problem in report.errors)
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == ["+ann@mail.example", "-offers@mail.example"]


def test_row_errors_name_their_line_and_column(write, general):
    TopicFactory(name="Private Sales", slug="private-sales")
    path = write(
        HEADER
        + good("ann@mail.example")  # line 2: fine
        + good("not-an-address")  # 3
        + good("bob@mail.example", topic="no-such-topic")  # 4
        + "cat@mail.example,Cat,general,consent,,2024-05-01,,,\n"  # 5: no source, no wording or version
        + "dan@mail.example,Dan,general,soft_opt_in,,,,,\n"  # 6: soft opt-in without an order reference
        + "eve@mail.example,Eve,general,consent,Shop,2999-01-01,Yes please,,\n"  # 7: the future
        + "fay@mail.example,Fay,general,consent,Shop,yesterday,Yes please,,\n"  # 8: not a date
        + "gus@mail.example,Gus,Private Sales,maybe,Shop,2024-05-01,Yes please,,\n"  # 9: unknown basis
    )

    report = run(path)

    assert [(line, column) for line, column, _ in report.errors] == [
        (3, "Email"),
        (4, "Topic"),
        (5, "Source"),
        (6, "Order reference"),
        (7, "Consent date"),
        (8, "Consent date"),
        (9, "Lawful basis"),
    ]
    problems = [problem for _, _, problem in report.errors]
    assert problems[0] == "is not a valid email address."
    assert "no-such-topic" in problems[1]
    assert problems[2] == "missing consent evidence: no consent source, no consent wording or privacy policy version."
    assert "order reference" in problems[3]
    assert problems[4] == "is in the future."
    assert (report.rows, report.error_rows) == (8, 7)
    assert not Subscriber.objects.exists() and not ConsentEvent.objects.exists()


def test_skip_bad_rows_imports_exactly_the_good_rows(write, general):
    path = write(HEADER + good("ann@mail.example") + good("broken") + good("bob@mail.example") + good("x@", "nope"))

    report = run(path, skip_bad_rows=True)

    assert report.committed and report.error_rows == 2
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == ["ann@mail.example", "bob@mail.example"]
    assert Subscription.objects.filter(status=SubscriptionStatus.ACTIVE).count() == 2


def test_duplicates_are_found_on_the_normalised_address_and_the_first_row_wins(write, general):
    other = TopicFactory(name="Private Sales", slug="private-sales")
    path = write(
        HEADER
        + good("Zoe@Bücher.example", name="Zoe")
        + good("zoe@xn--bcher-kva.example", name="Zed")  # the same mailbox: its domain in ASCII
        + good("  ZOE@BÜCHER.EXAMPLE ", name="Zia")
        + good("zoe@bücher.example", topic="private-sales")  # another topic: merged onto the same person
    )

    report = run(path)

    assert (report.duplicates, report.subscribers_created, report.subscriptions_created) == (2, 1, 2)
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.first_name) == ("zoe@bücher.example", "Zoe")
    assert subscriber.address_hmac == address_hmac("zoe@bücher.example")
    assert set(subscriber.subscriptions.values_list("topic", flat=True)) == {general.pk, other.pk}


def test_an_erased_address_is_skipped_in_every_spelling_and_not_brought_back(write, general):
    person = SubscriptionFactory(subscriber__email="zoe@bücher.example").subscriber
    subscriber_erase(subscriber=person, source=ErasureSource.STAFF)
    path = write(HEADER + good("Zoe@Bücher.example") + good("zoe@xn--bcher-kva.example", topic="General Subscription"))

    report = run(path)

    assert (report.suppressed, report.subscribers_created, report.consent_events) == (1, 0, 0)
    assert report.duplicates == 1
    assert not Subscriber.objects.exists()


def test_suppressed_and_unsubscribed_people_are_skipped_and_never_resubscribed(write, general):
    unsubscribed_everything = SubscriptionFactory(subscriber__email="left@mail.example").subscriber
    subscriber_withdraw_all(subscriber=unsubscribed_everything, source=ConsentSource.ACCOUNT_PAGE)
    suppression_add(email="bounced@mail.example", scope=SuppressionScope.MARKETING, reason=SuppressionReason.BOUNCE)
    topic_only = SubscriptionFactory(subscriber__email="topic@mail.example", status=SubscriptionStatus.UNSUBSCRIBED)
    objector = "objects@mail.example"  # objected to third-party sharing only: may still be imported for email
    suppression_add(email=objector, scope=SuppressionScope.THIRD_PARTY, reason=SuppressionReason.OBJECTED)
    events_before = ConsentEvent.objects.count()
    path = write(
        HEADER + good("left@mail.example") + good("bounced@mail.example") + good("topic@mail.example") + good(objector)
    )

    report = run(path)

    assert (report.suppressed, report.unsubscribed_earlier, report.subscriptions_created) == (2, 1, 1)
    assert unsubscribed_everything.subscriptions.get().status == SubscriptionStatus.UNSUBSCRIBED
    topic_only.refresh_from_db()
    assert topic_only.status == SubscriptionStatus.UNSUBSCRIBED
    assert not Subscriber.objects.filter(email="bounced@mail.example").exists()
    assert Subscription.objects.get(subscriber__email=objector).status == SubscriptionStatus.ACTIVE
    assert ConsentEvent.objects.count() == events_before + 1
    assert Suppression.objects.filter(address_hmac=address_hmac("left@mail.example")).exists()


def test_each_imported_subscription_gets_one_consent_event_with_policy_version_and_wording_hash(write, general):
    TopicFactory(name="Private Sales", slug="private-sales")
    policy = PrivacyPolicyVersion.objects.create(
        version="2.0", text="Our policy, version two.", published_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    current = PrivacyPolicyVersion.objects.order_by("-published_at").first()
    pending = SubscriptionFactory(subscriber__email="pending@mail.example", status=SubscriptionStatus.PENDING)
    path = write(
        HEADER
        + good("ann@mail.example")
        + good("ann@mail.example", topic="Private Sales")
        + "bob@mail.example,Bob,general,consent,Events stand,01/03/2024,,2.0,\n"
        + "cat@mail.example,Cat,general,soft_opt_in,,,,,ORD-1001\n"
        + good("pending@mail.example")
    )

    report = run(path)

    assert (report.subscriptions_created, report.subscriptions_activated, report.consent_events) == (4, 1, 5)
    events = ConsentEvent.objects.filter(action=ConsentAction.IMPORTED)
    assert events.count() == 5 == Subscription.objects.filter(status=SubscriptionStatus.ACTIVE).count()
    assert set(events.values_list("source", flat=True)) == {ConsentSource.IMPORT}
    assert all(e.ip_truncated is None for e in events)
    ann = events.filter(subscriber__email="ann@mail.example")
    assert ann.count() == 2
    assert {e.wording_hash for e in ann} == {wording_hash(WORDING)}
    assert {e.policy_version for e in ann} == {current}
    assert ann[0].detail == "source: Shop checkout; consent date: 2024-05-01"
    bob = events.get(subscriber__email="bob@mail.example")
    assert (bob.policy_version, bob.wording_hash) == (policy, wording_hash(policy.text))
    assert bob.detail == "source: Events stand; consent date: 2024-03-01"
    cat = Subscription.objects.get(subscriber__email="cat@mail.example")
    assert cat.lawful_basis == LawfulBasis.SOFT_OPT_IN
    assert events.get(subscriber__email="cat@mail.example").detail == "source: order; order: ORD-1001"
    pending.refresh_from_db()
    assert pending.status == SubscriptionStatus.ACTIVE


@pytest.mark.parametrize(
    ("cell", "moment"),
    [
        ("2024-07-01", datetime(2024, 6, 30, 23, 0, tzinfo=UTC)),  # a day: its midnight in the shop's zone (summer)
        ("01/12/2024", datetime(2024, 12, 1, 0, 0, tzinfo=UTC)),  # day/month/year, in winter
        ("2024-05-01T09:30:00Z", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
        ("2024-05-01 09:30", datetime(2024, 5, 1, 8, 30, tzinfo=UTC)),  # a time without a zone: the shop's
        ("2024-05-01T09:30:00.250000+05:30", datetime(2024, 5, 1, 4, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_each_row_s_consent_date_is_stored_as_the_moment_it_names(write, general, cell, moment):
    # Given rows that share a consent date (staged through one remembered text) and one with a day of its own
    rows = [f"{n}@mail.example,Ann,general,consent,Fair,{cell},{WORDING},,\n" for n in ("ann", "bob", "cat")]
    path = write(HEADER + "".join(rows) + "dan@mail.example,Dan,general,consent,Fair,2023-01-15,Yes,,\n")

    report = run(path)

    assert report.subscriptions_created == 4
    confirmed = dict(Subscription.objects.values_list("subscriber__email", "confirmed_at"))
    assert {confirmed[f"{n}@mail.example"] for n in ("ann", "bob", "cat")} == {moment}
    assert confirmed["dan@mail.example"] == datetime(2023, 1, 15, 0, 0, tzinfo=UTC)


def test_a_policy_version_in_force_from_the_very_moment_of_consent_is_evidence(write, general):
    PrivacyPolicyVersion.objects.create(
        version="9.0", text="A policy.", published_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    )
    at_that_moment = "ann@mail.example,Ann,general,consent,Fair,2024-05-01T09:30:00Z,,9.0,\n"
    a_microsecond_before = "bob@mail.example,Bob,general,consent,Fair,2024-05-01T09:29:59.999999Z,,9.0,\n"

    report = run(write(HEADER + at_that_moment + a_microsecond_before), skip_bad_rows=True)

    assert [line for line, _, _ in report.errors] == [3]
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ann@mail.example"]


def test_a_topic_for_the_whole_file_and_guessed_columns(write, general):
    sales = TopicFactory(name="Private Sales", slug="private-sales")
    columns = ["E-mail address", "First name", "Signup source", "Consent date", "Consent text"]
    path = write(",".join(columns) + "\nann@mail.example,Ann,Shop,2024-05-01,Yes please\n")

    mapping = mapping_guess(columns)
    report = run(path, mapping=mapping, topic=sales)

    assert mapping == {
        "email": "E-mail address",
        "first_name": "First name",
        "consent_source": "Signup source",
        "consent_date": "Consent date",
        "consent_wording": "Consent text",
    }
    assert report.subscriptions_created == 1
    assert Subscription.objects.get().topic == sales


def test_a_policy_version_that_took_effect_after_the_consent_date_is_not_evidence(write, general):
    later = datetime(2025, 6, 1, tzinfo=UTC)
    PrivacyPolicyVersion.objects.create(version="9.0", text="A later policy.", published_at=later)
    path = write(HEADER + "ann@mail.example,Ann,general,consent,Fair,2024-05-01,,9.0,\n")

    report = run(path)

    problem = "names privacy policy version “9.0”, which took effect on 2025-06-01, after the consent date."
    assert report.errors == [[2, "Policy version", problem]]
    assert not report.committed and not Subscriber.objects.filter(email="ann@mail.example").exists()


def test_a_formula_after_leading_spaces_is_still_a_formula(write, general):
    path = write(HEADER + "ann@mail.example,  =HYPERLINK(\"http://x.example\"),general,consent,Fair,2024-05-01,Yes,,\n")

    report = run(path)

    assert report.error_rows == 1 and report.errors[0][1] == "First name" and "formula" in report.errors[0][2]
    assert not Subscriber.objects.exists()


def test_an_error_message_never_repeats_a_cell_that_holds_an_address(write, general):
    path = write(HEADER + "ann@mail.example,Ann,bob@mail.example,consent,Fair,2024-05-01,Yes,,\n")

    report = run(path)

    assert report.errors == [[2, "Topic", "names no topic (use a topic's slug or name)."]]


def test_a_first_name_source_or_order_reference_that_every_form_refuses_is_a_row_error(write, general):
    # A quoted cell may span lines in CSV: the import reads it whole, then holds it to the forms' rules. A row is
    # reported at the line it ends on.
    path = write(
        HEADER
        + good("ann@mail.example")  # line 2: fine
        + 'bob@mail.example,"Bob\r\nBcc: x@elsewhere.example",general,consent,Shop,2024-05-01,Yes,,\n'  # lines 3-4
        + "cat@mail.example,Cat\x1b[31m,general,consent,Shop,2024-05-01,Yes,,\n"  # 5: a control character
        + f"dan@mail.example,{'D' * 151},general,consent,Shop,2024-05-01,Yes,,\n"  # 6: longer than the form allows
        + 'eve@mail.example,Eve,general,consent,"Shop\nfloor",2024-05-01,Yes,,\n'  # 7-8: source over two lines
        + "fay@mail.example,Fay,general,soft_opt_in,,,,,A1\u2028B2\n"  # 9: a Unicode line separator
        + 'gus@mail.example,Gus,general,consent,Shop,2024-05-01,"Yes,\nplease",,\n'  # 10-11: a wording may span lines
    )

    report = run(path)

    assert report.errors == [
        [4, "First name", "must be on one line: it contains a line break."],
        [5, "First name", "contains control characters that cannot be used."],
        [6, "First name", "is longer than 150 characters."],
        [8, "Source", "must be on one line: it contains a line break."],
        [9, "Order reference", "must be on one line: it contains a line break."],
    ]
    assert (report.rows, report.error_rows) == (7, 5)
    assert not Subscriber.objects.exists()


def test_names_are_stored_as_the_forms_store_them(write, general):
    path = write(HEADER + good("ann@mail.example", name="  Zoe\u0301  "))  # "e" and a combining accent

    run(path)

    assert Subscriber.objects.get().first_name == "Zo\u00e9"  # one character, as the registration form keeps it


def test_a_whole_file_source_over_two_lines_refuses_the_mapping(write, general):
    path = write(HEADER + good("ann@mail.example"))

    with pytest.raises(ImportMappingError, match="The consent source for the whole file must be on one line"):
        run(path, source="Fair\r\nstall")
