"""manage.py import_subscribers: its output, and its exit status for a good file, a refused file and row errors."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from subscribers.management.commands.import_subscribers import Command
from subscribers.models import ConsentEvent, Subscriber, Subscription, SubscriptionStatus
from tests.factories import TopicFactory

HEADER = "E-mail address,Name,Signup source,Consent date,Consent wording\n"


def row(email: str) -> str:
    return f"{email},Ann,Shop checkout,2024-05-01,Tick to get our news by email.\n"


@pytest.fixture
def csv_file(write):
    """A file for the command line: its path as a string."""
    return lambda text: str(write(text))


def exit_status(*args) -> int:
    """What the shell sees: run as from the command line, where a CommandError exits with status 1."""
    try:
        Command(stdout=StringIO(), stderr=StringIO()).run_from_argv(["manage.py", "import_subscribers", *args])
    except SystemExit as exit:
        return exit.code
    return 0


@pytest.mark.django_db
def test_the_command_imports_a_file_and_prints_progress_and_the_report(csv_file):
    path = csv_file(HEADER + "".join(row(f"reader{n}@mail.example") for n in range(12)))
    out = StringIO()

    call_command("import_subscribers", path, stdout=out)

    text = out.getvalue()
    assert "email address <- “E-mail address”" in text
    assert "consent wording <- “Consent wording”" in text
    assert "Imported." in text
    assert "Subscribers created: 12" in text
    assert "Consent events recorded: 12" in text
    checks = "set-based" if connection.vendor == "postgresql" else "per row"
    assert f"Foreign keys checked: {checks}" in text
    assert Subscription.objects.filter(status=SubscriptionStatus.ACTIVE, topic__is_default=True).count() == 12


@pytest.mark.django_db
def test_dry_run_changes_nothing_and_says_so(csv_file):
    out = StringIO()

    call_command("import_subscribers", csv_file(HEADER + row("ann@mail.example")), "--dry-run", stdout=out)

    assert "Dry run: nothing was changed." in out.getvalue()
    assert "Subscribers would be created: 1" in out.getvalue()
    assert not Subscriber.objects.exists() and not ConsentEvent.objects.exists()


@pytest.mark.django_db
def test_map_and_topic_options_choose_the_columns_and_the_topic(csv_file):
    sales = TopicFactory(name="Private Sales", slug="private-sales")
    path = csv_file("Who,When,Text\nann@mail.example,2024-05-01,Yes please\n")

    call_command(
        "import_subscribers",
        path,
        "--map",
        "email=Who",
        "--map",
        "consent_date=When",
        "--map",
        "consent_wording=Text",
        "--topic",
        "private-sales",
        "--source",
        "Spring fair",
        stdout=StringIO(),
    )

    event = ConsentEvent.objects.get()
    assert (event.topic, event.detail) == (sales, "source: Spring fair; consent date: 2024-05-01")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the default topic, after other flushes
def test_exit_status_is_zero_for_a_good_file_and_one_for_a_refused_file_or_row_errors(csv_file):
    assert exit_status(csv_file(HEADER + row("ann@mail.example"))) == 0
    assert exit_status(csv_file(b"\xff\xfeE\x00m\x00a\x00i\x00l\x00\n\x00")) == 1  # UTF-16
    assert exit_status(csv_file(HEADER + row("bob@mail.example") + row("not-an-address"))) == 1
    assert exit_status(csv_file(HEADER + row("cat@mail.example") + row("@nope")), "--dry-run") == 1
    assert exit_status(csv_file(HEADER + row("dan@mail.example") + row("not-an-address")), "--skip-bad-rows") == 0
    assert exit_status(csv_file(HEADER + row("eve@mail.example")), "--topic", "no-such-topic") == 1
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == ["ann@mail.example", "dan@mail.example"]


@pytest.mark.django_db
def test_a_refused_file_says_why_and_that_nothing_was_imported(csv_file):
    with pytest.raises(CommandError, match=r"Line 2 is not UTF-8 \(byte \d+ of the file, 0xe9\)"):
        call_command("import_subscribers", csv_file(HEADER.encode() + b"caf\xe9@mail.example\n"), stdout=StringIO())
    with pytest.raises(CommandError, match="no column “Nope”"):
        call_command("import_subscribers", csv_file(HEADER + row("a@mail.example")), "--map", "email=Nope")


@pytest.mark.django_db
def test_row_errors_are_printed_with_their_line_numbers_and_nothing_is_imported(csv_file):
    out = StringIO()
    path = csv_file(HEADER + row("ann@mail.example") + row("not-an-address") + "bob@mail.example,Bob,,2024-05-01,\n")

    with pytest.raises(CommandError, match="2 row\\(s\\) have errors, so nothing was imported"):
        call_command("import_subscribers", path, stdout=out)

    assert "line 3, column “E-mail address”: is not a valid email address." in out.getvalue()
    assert "line 4, column “Signup source”: missing consent evidence" in out.getvalue()
    assert "Nothing was imported." in out.getvalue()
    assert not Subscriber.objects.exists()


@pytest.mark.django_db
def test_the_command_matches_attribute_columns_by_key_or_label_and_takes_them_from_map(csv_file):
    from subscribers.models import Attribute, AttributeType, AttributeValue

    Attribute.objects.create(key="tier", label="Loyalty tier", type=AttributeType.CHOICE, choices=["Gold", "Silver"])
    Attribute.objects.create(key="spend", label="Spend", type=AttributeType.NUMBER)
    Attribute.objects.create(key="vip", label="VIP", type=AttributeType.BOOLEAN)
    path = csv_file(
        HEADER.rstrip("\n") + ",LOYALTY TIER,Spend,Big customer\n"
        + row("ann@mail.example").rstrip("\n") + ",gold,-3,yes\n"
    )
    out = StringIO()

    call_command("import_subscribers", path, "--map", "attribute:vip=Big customer", stdout=out)

    assert "attribute “tier” <- “LOYALTY TIER”" in out.getvalue()
    assert "Attribute values set: 3" in out.getvalue()
    values = AttributeValue.objects.filter(subscriber__email="ann@mail.example")
    assert {(v.attribute.key, v.text, v.number, v.boolean) for v in values} == {
        ("tier", "Gold", None, None),
        ("spend", "", -3, None),
        ("vip", "", None, True),
    }


@pytest.mark.django_db
def test_the_command_refuses_an_attribute_not_declared_naming_it(csv_file):
    path = csv_file(HEADER.rstrip("\n") + ",Colour\n" + row("ann@mail.example").rstrip("\n") + ",red\n")

    with pytest.raises(CommandError, match="There is no attribute “colour”"):
        call_command("import_subscribers", path, "--map", "attribute:colour=Colour", stdout=StringIO())
    assert not Subscriber.objects.exists()
