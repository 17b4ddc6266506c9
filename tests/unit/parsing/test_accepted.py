"""parsing: what is accepted, and values taken literally when quoted, stripped when not."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.model import Customer, Item, Order
from chalicelib.parsing import ParseStats
from tests.unit.parsing.helpers import (
    BOTH_PATHS,
    ORDERS_HEADER,
    csv_bytes,
    located,
    parse,
    rejection,
    with_header,
)

# --- what is accepted ------------------------------------------------------------

SAMPLE_ORDERS = [Order("1001", "1", Decimal("250.00")), Order("1002", "1", Decimal("150.00")),
                 Order("1003", "2", Decimal("300.00"))]


@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
@pytest.mark.parametrize("end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_bom_and_line_ends_do_not_change_the_rows(bom, end):
    data = csv_bytes(ORDERS_HEADER, "1001,1,250.00", "1002,1,150.00", "1003,2,300.00", end=end, bom=bom)

    assert parse("orders", data) == SAMPLE_ORDERS


def test_the_last_line_needs_no_line_end():
    assert parse("items", b"item_id,order_id\n501,1001\n502,1001") == [Item("501", "1001"),
                                                                       Item("502", "1001")]


@pytest.mark.parametrize("kind, data, expected", [
    ("customers", b"customer_id,customer_name\n1,John Doe\n", [Customer("1", "John Doe")]),
    ("orders", b"order_id,customer_id,amount\n1001,1,250.00\n", [Order("1001", "1", Decimal("250.00"))]),
    ("items", b"item_id,order_id\n501,1001\n", [Item("501", "1001")]),
])
def test_each_kind_builds_its_row_type(kind, data, expected):
    assert parse(kind, data) == expected


@pytest.mark.parametrize("field, value", [
    ('"Doe, John"', "Doe, John"),
    ('"She said ""hi"""', 'She said "hi"'),
    ('""', None),  # a quoted empty value is still missing: see the rejection tests
    ('"   "', None),  # and so is one of spaces only
    ('"  padded  "', "  padded  "),  # quoted: literal, spaces included
    ("Zoë 日本 \u2028 ok", "Zoë 日本 \u2028 ok"),  # U+2028 is not a line end in CSV
])
def test_quoted_fields(field, value):
    data = csv_bytes("customer_id,customer_name", f"1,{field}")
    if value is None:
        assert located(rejection("customers", data)) == [(2, "customer_name", "the value is missing")]
    else:
        assert parse("customers", data) == [Customer("1", value)]


def test_blank_and_whitespace_only_lines_are_skipped_and_not_counted():
    data = b"\n  \r\nitem_id,order_id\r\n\r\n501,1001\n\n \t\n502,1001\n\n"
    stats = ParseStats()

    assert parse("items", data, stats=stats) == [Item("501", "1001"), Item("502", "1001")]
    assert (stats.rows_read, stats.rows_rejected) == (2, 0)


def test_line_numbers_count_blank_lines_before_and_after_the_header():
    data = b"\n\nitem_id,order_id\n\n501,\n"

    assert located(rejection("items", data)) == [(5, "order_id", "the value is missing")]


def test_columns_in_any_order_and_extra_columns_ignored():
    data = csv_bytes("note,amount,customer_id,region,order_id", "gift,12.50,7,EU,1001")

    assert parse("orders", data) == [Order("1001", "7", Decimal("12.50"))]


def test_header_names_ignore_case_and_surrounding_whitespace():
    data = csv_bytes(" Order_ID ,CUSTOMER_ID,\tAmount ", "1001,1,1.00")

    assert parse("orders", data) == [Order("1001", "1", Decimal("1.00"))]


def test_unquoted_values_are_stripped_of_surrounding_spaces():
    assert parse("orders", csv_bytes(ORDERS_HEADER, " 1001 , 1 , 2.50 ")) == [
        Order("1001", "1", Decimal("2.50"))]

# --- quoted values are literal, unquoted ones are stripped ----------------------------

@BOTH_PATHS
def test_a_quoted_value_keeps_its_spaces_and_an_unquoted_one_loses_them(quote_header):
    data = with_header("customer_id,customer_name", '1,"  Jane "', "2,  Jane ", '" 3 ",x', " 4 ,y",
                       '5,"\u00a0Zoë\u2028"', quote_header=quote_header)

    assert parse("customers", data)[-5:] == [Customer("1", "  Jane "), Customer("2", "Jane"),
                                             Customer(" 3 ", "x"), Customer("4", "y"),
                                             Customer("5", "\u00a0Zoë\u2028")]


PADDING = st.text(" \u00a0", max_size=2)


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.tuples(st.booleans(), PADDING, st.text('ab ,"é', max_size=5), PADDING),
                      min_size=1, max_size=12),
       quote_header=st.booleans())
def test_any_quoted_value_is_literal_and_any_unquoted_one_stripped(names, quote_header):
    rows, expected = [], []
    for n, (quoted, before, middle, after) in enumerate(names):
        name = f"{before}N{middle}{after}"
        if quoted:
            rows.append(f'{n},"{name.replace(chr(34), chr(34) * 2)}"')
            expected.append(Customer(str(n), name))
        else:
            name = name.replace(",", "")  # a comma would start another field
            rows.append(f"{n},{name}")
            expected.append(Customer(str(n), name.strip()))

    data = with_header("customer_id,customer_name", *rows, quote_header=quote_header)

    assert parse("customers", data)[50:] == expected


def test_a_quoted_padded_value_is_literal_in_every_column_of_orders():
    data = csv_bytes(ORDERS_HEADER, '" 1001","1 ",2.50')

    assert parse("orders", data) == [Order(" 1001", "1 ", Decimal("2.50"))]
