"""The import's writes against changes committed between its plan and its writes, and how it checks the references
it writes (set-based on PostgreSQL when the role may, otherwise row by row; see imports/references.py)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from subscribers.models import (
    ConsentEvent,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from subscribers.services import suppression_add
from subscribers.services.errors import ImportInterrupted
from subscribers.services.imports import ImportOptions, sql, subscribers_import
from subscribers.services.imports.reader import csv_open, mapping_check
from subscribers.services.imports.rows import RowChecker
from subscribers.services.retention import pending_opt_ins_purge
from tests.factories import SubscriptionFactory, TopicFactory
from tests.subscribers.test_imports import HEADER, MAPPING, good, run

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's concurrency and checks")


@pytest.fixture
def planned(write):
    """Stage a file and make its plan, as the engine does, leaving the writes to the test; then drop the tables."""

    def plan(text: str) -> dict:
        path = write(HEADER + text)
        with open(path, "rb") as handle:
            stream = csv_open(path, handle)
            positions = mapping_check(columns=stream.columns, mapping=MAPPING)
            checker = RowChecker(positions=positions, columns=stream.columns, options=ImportOptions(mapping=MAPPING))
            sql.staging_create()
            with sql.StagingWriter() as staging:
                for line, cells in stream.rows():
                    staging.add(checker.check(line, cells)[0])
        return sql.plan_build(for_writing=True)

    yield plan
    sql.staging_drop()


def write_now(counts: dict) -> dict:
    return sql.plan_write(now=datetime.now(UTC), policy_version_id=None, counts=counts)


def dangling_references() -> int:
    """Subscriptions and consent events whose subscriber does not exist (what a foreign key forbids)."""
    ids = Subscriber.objects.values("pk")
    return (
        Subscription.objects.exclude(subscriber_id__in=ids).count()
        + ConsentEvent.objects.filter(subscriber_id__isnull=False).exclude(subscriber_id__in=ids).count()
    )


def test_an_address_suppressed_after_the_plan_is_neither_subscribed_nor_given_a_consent_event(planned, general):
    counts = planned(good("ann@mail.example") + good("bob@mail.example"))
    assert (counts["new"], counts["new_subscribers"]) == (2, 2)

    # Bob unsubscribes from everything before the writes
    suppression_add(email="bob@mail.example", scope=SuppressionScope.MARKETING, reason=SuppressionReason.UNSUBSCRIBED)
    written = write_now(counts)

    # Only Ann is created, subscribed and given an event
    assert (written["subscribers_created"], written["subscriptions_created"], written["consent_events"]) == (1, 1, 1)
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ann@mail.example"]
    assert list(Subscription.objects.values_list("subscriber__email", flat=True)) == ["ann@mail.example"]
    assert list(ConsentEvent.objects.values_list("subscriber__email", flat=True)) == ["ann@mail.example"]


@postgres_only  # SQLite lets one connection write at a time: nobody can add a subscriber mid-import there
def test_an_address_added_by_someone_else_after_the_plan_is_left_as_they_made_it(planned, general):
    TopicFactory(slug="sales")
    counts = planned(good("ann@mail.example") + good("bob@mail.example") + good("bob@mail.example", "sales"))

    # Bob signs up on the public form (a pending subscription) between the plan and the writes
    theirs = SubscriptionFactory(subscriber__email="bob@mail.example", topic=general, status=SubscriptionStatus.PENDING)
    written = write_now(counts)

    assert (written["subscribers_created"], written["subscriptions_created"], written["consent_events"]) == (1, 1, 1)
    theirs.refresh_from_db()
    assert theirs.status == SubscriptionStatus.PENDING and theirs.subscriber.subscriptions.count() == 1
    assert list(ConsentEvent.objects.values_list("subscriber__email", flat=True)) == ["ann@mail.example"]
    assert dangling_references() == 0


@postgres_only
def test_rows_of_a_subscriber_deleted_after_the_plan_are_skipped_not_left_dangling(planned, general):
    other = TopicFactory()
    ann = SubscriptionFactory(subscriber__email="ann@mail.example", topic=other).subscriber
    counts = planned(good("ann@mail.example") + good("bob@mail.example"))
    assert counts["new"] == 2 and counts["new_subscribers"] == 1

    # Ann's record is deleted (no tombstone, as the purge of unconfirmed sign-ups does) before the writes
    Subscriber.objects.filter(pk=ann.pk).delete()
    written = write_now(counts)

    assert (written["subscriptions_created"], written["consent_events"]) == (1, 1)
    assert list(Subscription.objects.values_list("subscriber__email", flat=True)) == ["bob@mail.example"]
    assert dangling_references() == 0


@postgres_only
def test_a_topic_deleted_after_the_plan_stops_the_import(planned, general):
    spring = TopicFactory(slug="spring")
    counts = planned(good("ann@mail.example", "spring"))
    Topic.objects.filter(pk=spring.pk).delete()

    with pytest.raises(ImportInterrupted, match="A topic or privacy policy version named in the file was deleted"):
        write_now(counts)


def test_the_import_says_how_it_checked_references(write, general):
    report = run(write(HEADER + good("ann@mail.example")))

    expected = "set-based" if connection.vendor == "postgresql" else "per row"
    assert report.committed and report.reference_checks == expected


@postgres_only
def test_without_the_privilege_the_database_checks_each_row_and_the_import_still_works(write, general):
    path = write(HEADER + good("ann@mail.example") + good("bob@mail.example"))
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE newsletter_import_test NOSUPERUSER")
        cursor.execute("GRANT pg_read_all_data, pg_write_all_data TO newsletter_import_test")
        cursor.execute(f"GRANT TEMPORARY ON DATABASE {connection.ops.quote_name(connection.settings_dict['NAME'])} "
                       "TO newsletter_import_test")
        cursor.execute("SET LOCAL ROLE newsletter_import_test")
    try:
        report = run(path)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")

    assert report.committed and report.reference_checks == "per row"
    assert (report.subscriptions_created, report.consent_events) == (2, 2)
    assert dangling_references() == 0


@postgres_only
def test_a_dry_run_uses_up_no_subscriber_ids(write, general):
    path = write(HEADER + "".join(good(f"reader{n}@mail.example") for n in range(50)))

    def next_id() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [Subscriber._meta.db_table])
            return cursor.fetchone()[0]

    before = next_id()
    assert run(path, dry_run=True).subscribers_created == 50
    assert next_id() == before + 1


@postgres_only
def test_the_tables_an_import_writes_have_no_triggers_but_their_foreign_keys():
    # The set-based checks set session_replication_role, which silences every trigger and rule on these tables,
    # including the internal triggers of a deferrable unique constraint: one added later must be made to fire
    # ALWAYS, or the import changed.
    tables = [m._meta.db_table for m in (Subscriber, Subscription, ConsentEvent)]
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT t.tgrelid::regclass::text, t.tgname FROM pg_trigger t
               LEFT JOIN pg_constraint c ON c.oid = t.tgconstraint
               WHERE t.tgrelid = ANY(%s::regclass[]) AND c.contype IS DISTINCT FROM 'f'""",
            [tables],
        )
        assert cursor.fetchall() == []
        cursor.execute("SELECT tablename, rulename FROM pg_rules WHERE tablename = ANY(%s)", [tables])
        assert cursor.fetchall() == []


@postgres_only
def test_an_import_inside_a_callers_transaction_leaves_its_foreign_keys_checked(write, general):
    with transaction.atomic():
        assert run(write(HEADER + good("ann@mail.example"))).reference_checks == "set-based"
        with connection.cursor() as cursor:
            cursor.execute("SHOW session_replication_role")
            assert cursor.fetchone()[0] == "origin"


def test_rows_of_two_spellings_of_one_address_are_all_written_when_only_one_spelling_is_known(write, general):
    # Python's IDNA maps ß to ss: both spellings share one key, but only one is held by a subscriber
    TopicFactory(slug="sales")
    SubscriptionFactory(subscriber__email="a@straße.example", topic=TopicFactory())
    path = write(HEADER + good("a@straße.example") + good("a@strasse.example", "sales"))

    report = run(path)

    assert (report.subscriptions_created, report.consent_events) == (2, 2)
    assert Subscription.objects.filter(topic__slug="sales", subscriber__email="a@strasse.example").exists()


def test_a_subscription_someone_else_made_meanwhile_is_left_alone_and_gets_no_import_event(planned, general):
    ann = SubscriptionFactory(subscriber__email="ann@mail.example", topic=TopicFactory()).subscriber
    counts = planned(good("ann@mail.example") + good("bob@mail.example"))
    assert counts["new_for_existing"] == 1

    # Ann asks for the general topic on the public form (pending) between the plan and the writes
    theirs = SubscriptionFactory(subscriber=ann, topic=general, status=SubscriptionStatus.PENDING)
    written = write_now(counts)

    assert (written["subscriptions_created"], written["consent_events"]) == (1, 1)
    theirs.refresh_from_db()
    assert theirs.status == SubscriptionStatus.PENDING
    assert list(ConsentEvent.objects.values_list("subscriber__email", flat=True)) == ["bob@mail.example"]


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # brings back the rows migrations made
def test_while_an_import_writes_its_subscribers_cannot_be_deleted_and_the_purge_passes_them_by(write):
    # (No "general" fixture: a transactional test may run after another has emptied the tables.)
    stale = timezone.now() - timedelta(days=365)
    topic = TopicFactory(slug="autumn")
    ann = SubscriptionFactory(
        subscriber__email="ann@mail.example", topic=topic, status=SubscriptionStatus.PENDING, requested_at=stale
    ).subscriber
    path = write(HEADER + good("ann@mail.example", "autumn"))
    elsewhere = {}

    def other_session():
        try:
            elsewhere["purged"] = pending_opt_ins_purge()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
                cursor.execute("DELETE FROM subscribers_subscription WHERE subscriber_id = %s", [ann.pk])
                cursor.execute("DELETE FROM subscribers_subscriber WHERE id = %s", [ann.pk])
        except OperationalError as err:
            elsewhere["refused"] = str(err)
        finally:
            connection.close()

    with transaction.atomic():
        report = subscribers_import(path=path, options=ImportOptions(mapping=MAPPING))
        # The writes are done, not committed: another session tries the purge, then to delete Ann outright
        worker = threading.Thread(target=other_session)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive()

    assert elsewhere["purged"] == {"pending_subscriptions": 0, "subscribers": 0}, "Ann was locked: left for later"
    assert "lock timeout" in elsewhere["refused"]
    assert report.subscriptions_activated == 1
    assert Subscription.objects.get(subscriber=ann).status == SubscriptionStatus.ACTIVE
