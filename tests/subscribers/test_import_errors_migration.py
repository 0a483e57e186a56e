"""Imports checked before row errors left the cell out: the data migration takes the cells out of the errors kept
with them (the errors, the dry run's report and the run's report), and leaves every other error as it was."""

from importlib import import_module

import pytest
from django.apps import apps

from subscribers.models import SubscriberImport

pytestmark = pytest.mark.django_db

migration = import_module("subscribers.migrations.0022_import_errors_without_values")

OLD = [
    [2, "birthday", "'1975-13-02' is not a date (use YYYY-MM-DD)."],
    [3, "spend", "'12,50' is not a number (use digits and a point, like 1250.50)."],
    [4, "spend", "'1.1234567' has more than 6 decimal places."],
    [5, "spend", "'123456789012345678901234567890123456789…' is too large (at most 18 digits before the point)."],
    [6, "vip", "'it's complicated' is not yes or no (use yes, no, true, false, 1 or 0)."],
    [7, "tier", "'Bronze' is not one of the choices (Silver, Gold)."],
    [8, "spend", "'lots' is not a number."],
]
NEW = [
    [2, "birthday", "is not a date (use YYYY-MM-DD)."],
    [3, "spend", "is not a number (use digits and a point, like 1250.50)."],
    [4, "spend", "has more than 6 decimal places."],
    [5, "spend", "is too large (at most 18 digits before the point)."],
    [6, "vip", "is not yes or no (use yes, no, true, false, 1 or 0)."],
    [7, "tier", "is not one of the choices (Silver, Gold)."],
    [8, "spend", "is not a number."],
]
# Errors that never quoted a cell, and stay as they are.
OTHERS = [
    [9, "email", "is not a valid email address."],
    [10, "town", "the value is longer than 255 characters."],
    [11, "first_name", "'Ada' must be on one line"],  # not one of the value problems: left alone
]


def test_the_cells_are_taken_out_of_old_row_errors_and_nothing_else_changes():
    old = SubscriberImport.objects.create(
        file_name="old.csv",
        errors=OLD + OTHERS,
        dry_run_report={"rows": 11, "errors": OLD[:2], "error_count": 2},
        report={"rows": 11, "errors": OLD + OTHERS, "error_count": 10},
    )
    new = SubscriberImport.objects.create(file_name="new.csv", errors=NEW, report={"rows": 3})
    untouched = SubscriberImport.objects.create(file_name="none.csv")

    migration.import_errors_without_values(apps, None)

    old.refresh_from_db()
    assert old.errors == NEW + OTHERS
    assert old.dry_run_report == {"rows": 11, "errors": NEW[:2], "error_count": 2}
    assert old.report == {"rows": 11, "errors": NEW + OTHERS, "error_count": 10}
    new.refresh_from_db()
    assert (new.errors, new.report) == (NEW, {"rows": 3})
    untouched.refresh_from_db()
    assert (untouched.errors, untouched.dry_run_report, untouched.report) == ([], {}, {})
    assert not any("1975" in str(e) or "Bronze" in str(e) for e in SubscriberImport.objects.values_list("errors"))
