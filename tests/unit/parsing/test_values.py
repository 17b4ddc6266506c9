"""parsing: each value's rules: amounts, missing and long values, field counts, control characters,
repeated ids."""
from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.errors import Problem
from chalicelib.model import Customer
from tests.unit.parsing.helpers import (
    AMOUNT_REASON,
    BOTH_PATHS,
    ORDERS_HEADER,
    csv_bytes,
    located,
    parse,
    rejection,
    with_header,
)

# --- amounts -----------------------------------------------------------------------

@pytest.mark.parametrize("text, amount", [
    ("0", Decimal("0")),
    ("0.00", Decimal("0.00")),
    ("0.1", Decimal("0.1")),  # exact, not the float 0.1000000000000000055...
    ("250", Decimal("250")),
    ("250.00", Decimal("250.00")),
    ("19.99", Decimal("19.99")),
    ("007.50", Decimal("7.50")),
    ("999999999999999.99", Decimal("999999999999999.99")),
])
def test_accepted_amounts_are_exact_decimals(text, amount):
    [order] = parse("orders", csv_bytes(ORDERS_HEADER, f"1,1,{text}"))

    assert isinstance(order.amount, Decimal)
    assert order.amount == amount
    assert str(order.amount) == str(amount)  # the digits too, not only the value


@pytest.mark.parametrize("text", [
    pytest.param("-1.00", id="negative"),
    pytest.param("+1.00", id="plus-sign"),
    pytest.param("-0", id="negative-zero"),
    pytest.param("1.", id="point-without-decimals"),
    pytest.param(".50", id="no-digit-before-the-point"),
    pytest.param("1e3", id="exponent"),
    pytest.param("2.5E+2", id="exponent-upper"),
    pytest.param('"1,000.00"', id="thousands-comma"),
    pytest.param("1 000.00", id="thousands-space"),
    pytest.param("1_000", id="underscore"),
    pytest.param("$10.00", id="currency"),
    pytest.param('"10,00"', id="decimal-comma"),
    pytest.param("abc", id="text"),
    pytest.param("NaN", id="nan"),
    pytest.param("Infinity", id="infinity"),
    pytest.param("0x10", id="hex"),
    pytest.param("\u0662\u0665\u0660.00", id="arabic-indic-digits"),
    pytest.param("\uff11\uff10.00", id="fullwidth-digits"),
    pytest.param('" 12.50"', id="spaces-inside-quotes"),  # quoted: literal, so not digits only
])
def test_rejected_amounts_name_line_column_value_and_the_whole_rule(text):
    data = csv_bytes(ORDERS_HEADER, "1,1,1.00", f"2,1,{text}")

    assert rejection("orders", data).problems == [
        Problem(3, "amount", text.removeprefix('"').removesuffix('"'), AMOUNT_REASON)]


@pytest.mark.parametrize("text, reason", [
    pytest.param("1234567890123456789012", "the amount has 22 digits before the decimal point; "
                 "at most 15 are allowed", id="22-digits"),
    pytest.param("1234567890123456.50", "the amount has 16 digits before the decimal point; "
                 "at most 15 are allowed", id="16-digits-and-decimals"),
    pytest.param("0000000000000001", "the amount has 16 digits before the decimal point; "
                 "at most 15 are allowed", id="leading-zeros-count"),
    pytest.param("1.234", "the amount has 3 decimal places; at most 2 decimal places are allowed",
                 id="three-decimals"),
    pytest.param("12345678901234567.125", "the amount has 17 digits before the decimal point and "
                 "3 decimal places; at most 15 digits before the point and at most 2 decimal places "
                 "are allowed", id="both"),
])
@pytest.mark.parametrize("header", [ORDERS_HEADER, '"order_id","customer_id","amount"'],
                         ids=["fast-path", "exact-path"])
def test_an_amount_with_too_many_digits_says_how_many_and_the_limit(header, text, reason):
    data = csv_bytes(header, "1,1,1.00", f"2,1,{text}")

    assert rejection("orders", data).problems == [Problem(3, "amount", text, reason)]


# --- missing values, long values, field counts --------------------------------------

@pytest.mark.parametrize("row, columns", [
    (",1,1.00", ["order_id"]),
    ("1,,1.00", ["customer_id"]),
    ("1,1,", ["amount"]),
    ("1, ,  ", ["customer_id", "amount"]),
    (",,", ["order_id", "customer_id", "amount"]),
])
def test_each_missing_value_is_named_by_column(row, columns):
    error = rejection("orders", csv_bytes(ORDERS_HEADER, row))

    assert located(error) == [(2, column, "the value is missing") for column in columns]


def test_a_value_over_200_characters_is_rejected_with_a_shortened_value():
    long_id = "x" * 201
    error = rejection("customers", csv_bytes("customer_id,customer_name", f"{long_id},Ann"))

    assert error.problems == [Problem(2, "customer_id", "x" * 40 + "...",
                                      "the value is longer than 200 characters (it has 201); shorten it")]


def test_the_200_character_limit_counts_the_spaces_of_a_quoted_value():
    data = csv_bytes("customer_id,customer_name", f'1,"{"n" * 200} "', f"2, {'n' * 200} ")

    assert located(rejection("customers", data)) == [
        (2, "customer_name", "the value is longer than 200 characters (it has 201); shorten it")]


def test_a_value_of_exactly_200_characters_is_accepted():
    assert parse("customers", csv_bytes("customer_id,customer_name", f"1,{'n' * 200}")) == [
        Customer("1", "n" * 200)]


@pytest.mark.parametrize("row, found", [("501", 1), ("501,1001,extra", 3)])
def test_a_row_with_the_wrong_number_of_fields(row, found):
    error = rejection("items", csv_bytes("item_id,order_id", row))

    assert error.problems == [Problem(2, "", row, f"expected 2 fields as in the header, found {found}")]

@pytest.mark.parametrize("columns, row, column, value, reason", [
    pytest.param("customer_id,customer_name", "1,Jan\x00e Doe", "customer_name", "Jan\x00e Doe",
                 "the value contains a control character (U+0000, NUL) at character 4; remove it",
                 id="nul-in-a-name"),
    pytest.param("item_id,order_id", "50\x7f1,1001", "item_id", "50\x7f1",
                 "the value contains a control character (U+007F, DEL) at character 3; remove it",
                 id="del-in-an-id"),
    pytest.param("customer_id,customer_name", "1,John\tDoe", "customer_name", "John\tDoe",
                 "the value contains a control character (U+0009, TAB) at character 5; remove it",
                 id="tab-in-a-value"),
    pytest.param("customer_id,customer_name", "1,John Doe\t", "customer_name", "John Doe\t",
                 "the value contains a control character (U+0009, TAB) at character 9; remove it",
                 id="tab-after-an-unquoted-value"),  # not padding: spaces are, tabs are not
    pytest.param("customer_id,customer_name", '1,"\tJohn"', "customer_name", "\tJohn",
                 "the value contains a control character (U+0009, TAB) at character 1; remove it",
                 id="tab-inside-quotes"),
    pytest.param("customer_id,customer_name", "1,\x1b[31mRed", "customer_name", "\x1b[31mRed",
                 "the value contains a control character (U+001B, ESC) at character 1; remove it",
                 id="escape-sequence"),
    pytest.param("customer_id,customer_name", "1,a\x1fb", "customer_name", "a\x1fb",
                 "the value contains a control character (U+001F, US) at character 2; remove it",
                 id="unit-separator"),  # Python counts U+001F as whitespace; it is not padding here
    pytest.param("item_id,order_id", "\x0c501\x0b,1001", "item_id", "\x0c501\x0b",
                 "the value contains a control character (U+000C, FF) at character 1 and 1 more control "
                 "character; remove them", id="form-feed-and-vertical-tab"),
    pytest.param("customer_id,customer_name", "1,\x01\x02\x03", "customer_name", "\x01\x02\x03",
                 "the value contains a control character (U+0001, SOH) at character 1 and 2 more control "
                 "characters; remove them", id="several"),
    pytest.param("order_id,customer_id,amount", "1001,1,12.50\x00", "amount", "12.50\x00",
                 "the value contains a control character (U+0000, NUL) at character 6; remove it",
                 id="nul-in-an-amount"),
    # Valid UTF-8, but SQS refuses a message that holds them: rejected here, not dead-lettered
    # at the publication (the emulator refuses them too).
    pytest.param("customer_id,customer_name", "1,Non\uffffchar", "customer_name", "Non\uffffchar",
                 "the value contains the non-character U+FFFF (no text holds it, and queues refuse "
                 "it) at character 4; remove it", id="u-ffff-in-a-name"),
    pytest.param("item_id,order_id", "\ufffe501,1001", "item_id", "\ufffe501",
                 "the value contains the non-character U+FFFE (no text holds it, and queues refuse "
                 "it) at character 1; remove it", id="u-fffe-in-an-id"),
    pytest.param("customer_id,customer_name", "1,a\uffffb\x01", "customer_name", "a\uffffb\x01",
                 "the value contains the non-character U+FFFF (no text holds it, and queues refuse "
                 "it) at character 2 and 1 more such character; remove them", id="mixed"),
])
@BOTH_PATHS
def test_a_control_character_in_a_value_is_rejected_saying_which_and_where(
        columns, row, column, value, reason, quote_header):
    data = with_header(columns, row, quote_header=quote_header)
    kind = {"customer_id": "customers", "item_id": "items", "order_id": "orders"}[columns.split(",")[0]]
    line = data.count(b"\n")  # the row is the last line

    assert rejection(kind, data).problems == [Problem(line, column, value, reason)]


@pytest.mark.parametrize("field, value, reason", [
    pytest.param('"Jane\nDoe"', "Jane\nDoe", "the value contains a line break (U+000A, LF) at character 5; "
                 "remove it (a value must be on one line)", id="lf"),
    pytest.param('"Jane\r\nDoe"', "Jane\r\nDoe", "the value contains a line break (U+000D U+000A, CRLF) "
                 "at character 5; remove it (a value must be on one line)", id="crlf"),
    pytest.param('"Jane\rDoe"', "Jane\rDoe", "the value contains a line break (U+000D, CR) at character 5; "
                 "remove it (a value must be on one line)", id="cr"),
    pytest.param('"Jane\n\nDoe\n"', "Jane\n\nDoe\n", "the value contains a line break (U+000A, LF) at "
                 "character 5 and 2 more control characters; remove them (a value must be on one line)",
                 id="several"),
])
@BOTH_PATHS
def test_a_line_break_inside_a_quoted_value_is_rejected_at_the_record_start(field, value, reason,
                                                                              quote_header):
    data = with_header("customer_id,customer_name", f"1,{field}", "2,Next", quote_header=quote_header)
    line = 52  # the header and 50 clean rows before it

    assert rejection("customers", data).problems == [Problem(line, "customer_name", value, reason)]


def test_a_control_character_in_an_id_still_counts_for_repeats():
    data = csv_bytes("item_id,order_id", "5\x0001,1", "5\x0001,2")
    nul = "the value contains a control character (U+0000, NUL) at character 2; remove it"

    assert located(rejection("items", data)) == [
        (2, "item_id", nul), (3, "item_id", nul), (3, "item_id", "duplicate id: already used on line 2")]


@BOTH_PATHS
def test_control_characters_and_line_breaks_in_an_extra_column_are_ignored(quote_header):
    data = with_header("customer_id,customer_name,notes", "1,Ann,tab\there", '2,Bo,"two\nlines\x00"',
                       quote_header=quote_header)

    assert parse("customers", data)[-2:] == [Customer("1", "Ann"), Customer("2", "Bo")]

# --- duplicates ---------------------------------------------------------------------

def test_a_duplicate_id_names_the_line_of_its_first_use():
    data = csv_bytes("item_id,order_id", "501,1001", "502,1001", "501,1002", "501,1003")

    assert located(rejection("items", data)) == [
        (4, "item_id", "duplicate id: already used on line 2"),
        (5, "item_id", "duplicate id: already used on line 2"),
    ]


def test_an_id_first_used_on_an_invalid_row_is_still_a_duplicate_later():
    data = csv_bytes(ORDERS_HEADER, "1001,1,abc", "1001,1,1.00")

    assert located(rejection("orders", data)) == [
        (2, "amount", AMOUNT_REASON),
        (3, "order_id", "duplicate id: already used on line 2"),
    ]


def test_unquoted_ids_are_compared_after_stripping_whitespace():
    data = csv_bytes("customer_id,customer_name", "1,Ann", " 1 ,Bob")

    assert located(rejection("customers", data)) == [
        (3, "customer_id", "duplicate id: already used on line 2")]


def test_a_quoted_id_with_spaces_is_another_id_than_the_unpadded_one():
    data = csv_bytes("customer_id,customer_name", "1,Ann", '" 1",Bob', '"1",Cy')

    assert located(rejection("customers", data)) == [
        (4, "customer_id", "duplicate id: already used on line 2")]  # '"1"' is 1; '" 1"' is not
