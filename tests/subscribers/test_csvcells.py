"""Cells of the CSV files we write: nothing a spreadsheet could run, and addresses exact wherever that is safe."""

import pytest

from subscribers.csvcells import csv_address_cell, csv_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.example","Click")', '\'=HYPERLINK("http://evil.example","Click")'),
        ("+1", "'+1"),
        ("-x@example.com", "'-x@example.com"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Kim", "Kim"),
        (None, ""),
        # A negative number is a number to a spreadsheet, and reads back as written; anything after it is not
        ("-12.5", "-12.5"),
        ("-3", "-3"),
        ("-1+1", "'-1+1"),
        ("-2.5e3", "'-2.5e3"),
        ("-12.", "'-12."),
    ],
)
def test_a_cell_a_spreadsheet_would_run_starts_with_an_apostrophe(value, cell):
    assert csv_cell(value) == cell


@pytest.mark.parametrize(
    ("address", "cell"),
    [
        # Valid, and a spreadsheet can do nothing with them: exactly as held
        ("kim@example.com", "kim@example.com"),
        ("-x@example.com", "-x@example.com"),
        ("+offers@example.com", "+offers@example.com"),
        ("-first.last_1+tag@mail.example.co.uk", "-first.last_1+tag@mail.example.co.uk"),
        ("-x@bücher.example", "-x@bücher.example"),
        # "=" starts a formula in every spreadsheet
        ("=x@example.com", "'=x@example.com"),
        # Valid, but holding what a formula needs to reach another program or file
        ("-cmd|'/c_calc'!A0@example.com", "'-cmd|'/c_calc'!A0@example.com"),
        ("+x@[127.0.0.1]", "'+x@[127.0.0.1]"),
        # Not a valid address: treated as any other text
        ("-x@example..com", "'-x@example..com"),
        ("-x@", "'-x@"),
        (None, ""),
    ],
)
def test_an_address_is_exact_when_valid_and_harmless_and_escaped_otherwise(address, cell):
    assert csv_address_cell(address) == cell
