"""parsing: line numbers, malformed CSV, the header, and values longer than the csv module's limit."""
from __future__ import annotations

import csv

import pytest

from chalicelib.errors import Problem
from chalicelib.model import Customer, Item
from chalicelib.parsing import FIX_HINT, ParseStats
from tests.unit.parsing.helpers import (
    AMOUNT_REASON,
    BOM,
    ORDERS_HEADER,
    csv_bytes,
    located,
    parse,
    rejection,
)

# --- line numbers ---------------------------------------------------------------------

def test_a_record_spanning_lines_is_reported_on_the_line_where_it_starts():
    data = csv_bytes("customer_id,customer_name,notes",
                     '1,Ann,"two',    # line 2
                     'lines"',        # line 3
                     '"",Nobody,',    # line 4: missing id
                     '5,Bo,"',        # line 5: a quoted note over lines 5-6 ...
                     '"',
                     '7,,')           # line 7: missing name

    assert located(rejection("customers", data)) == [
        (4, "customer_id", "the value is missing"),
        (7, "customer_name", "the value is missing"),
    ]


def test_a_bad_multi_line_record_is_reported_at_its_first_line():
    data = csv_bytes(ORDERS_HEADER, "1,1,1.00", '2,"a\nb\nc",x')

    assert located(rejection("orders", data)) == [
        (3, "customer_id", "the value contains a line break (U+000A, LF) at character 2 and 1 more "
                           "control character; remove them (a value must be on one line)"),
        (3, "amount", AMOUNT_REASON)]


def test_crlf_line_numbers_match_lf_line_numbers():
    lines = (ORDERS_HEADER, "1,1,1.00", "", "2,1,bad")

    assert located(rejection("orders", csv_bytes(*lines, end="\r\n", bom=True))) == \
        located(rejection("orders", csv_bytes(*lines))) == [(4, "amount", AMOUNT_REASON)]


# --- malformed CSV, encoding, header ---------------------------------------------------

TEXT_AFTER_QUOTE = ('a quote character inside an unquoted value, or text after a closing quote: put the '
                    'whole value in double quotes and double any quote inside it ("")')
UNCLOSED_QUOTE = ('a quote opened here is never closed, so the file ends inside a quoted value: close the '
                  'quote, and double any quote inside a value ("")')
LONE_CR = ("a carriage return (CR) not followed by a line feed ends a line only on old Macs: save the "
           "file with LF or CRLF line ends, and remove any CR inside a value")
LONG_QUOTED = ("a quoted value that spans lines is longer than 131,072 characters (usually a quote that "
               "is never closed, so the rest of the file became one value): check the quotes from this "
               "line on")
CSV_LIMIT = csv.field_size_limit()  # 131,072: the csv module's, which only values spanning lines keep


@pytest.mark.parametrize("data, problem", [
    pytest.param(b'item_id,order_id\n501,1001\n502,"1001\n503,1002\n',
                 Problem(3, "order_id", '"1001', UNCLOSED_QUOTE), id="unclosed-quote"),
    pytest.param(b'item_id,order_id\n501,"1001"x\n',
                 Problem(2, "order_id", '"1001"x', TEXT_AFTER_QUOTE), id="text-after-quote"),
    pytest.param(b'item_id,order_id\n501,"1001" \n',
                 Problem(2, "order_id", '"1001" ', TEXT_AFTER_QUOTE), id="space-after-quote"),
    pytest.param(b'item_id,order_id,note\n501,1001,"Big" Ben\n',
                 Problem(2, "note", '"Big" Ben', TEXT_AFTER_QUOTE), id="value-starting-with-a-quote"),
    pytest.param(b'item_id,order_id\n501,1001\n502,10\r01\n',
                 Problem(3, "order_id", "10\r01", LONE_CR), id="cr-inside-a-value"),
    pytest.param(b'item_id,order_id\n501,1001\r502,1002\r',
                 Problem(2, "order_id", "1001\r502,1002\r", LONE_CR), id="cr-line-ends-after-the-header"),
    pytest.param(b'item_id,order_id\n"501",1001\n1,"a\r\nb"\rc\n',
                 Problem(3, "order_id", '"a', LONE_CR), id="cr-after-a-multi-line-value"),
])
@pytest.mark.parametrize("quoted_header", [False, True], ids=["plain-header", "quoted-header"])
def test_malformed_csv_says_what_where_and_what_to_do(data, problem, quoted_header):
    if quoted_header:
        header, _, rest = data.partition(b"\n")
        data = b",".join(b'"%s"' % name for name in header.split(b",")) + b"\n" + rest

    assert rejection("items", data).problems == [problem]

@pytest.mark.parametrize("data", [b"", BOM, b"\n\r\n  \n"], ids=["empty", "bom-only", "blank-lines"])
def test_an_empty_file_asks_for_the_header(data):
    error = rejection("items", data)

    assert located(error) == [(1, "", "the file is empty: expected a header row item_id,order_id")]
    assert error.hint == "Upload the file with its header row and data."


def test_a_missing_required_column_lists_what_was_found():
    error = rejection("orders", csv_bytes("Order_ID,customer,amount", "1,1,1.00"))

    assert located(error) == [
        (1, "customer_id", "required column is missing from the header (found: order_id,customer,amount)")]
    assert error.hint == ("The header must name the columns order_id,customer_id,amount "
                          "(any order; extra columns are ignored).")


def test_a_repeated_required_column_is_rejected():
    error = rejection("items", csv_bytes("item_id,order_id,ITEM_ID", "1,2,3"))

    assert located(error) == [(1, "item_id", "the column appears more than once in the header")]


def test_a_repeated_extra_column_is_ignored():
    assert parse("items", csv_bytes("note,item_id,note,order_id", "a,501,b,1001")) == [Item("501", "1001")]

# --- values longer than the csv module's field limit ------------------------------------
# README: extra columns are not checked. csv.reader refuses any value over 131,072
# characters; the parser reads such a record itself, so only a quoted value that
# spans lines (what a quote never closed makes) keeps that limit.

def both_headers(data: bytes) -> list[bytes]:
    """The file as it is (fast path) and with its header quoted (exact path throughout)."""
    header, _, rest = data.partition(b"\n")
    return [data, b",".join(b'"%s"' % name for name in header.split(b",")) + b"\n" + rest]


@pytest.mark.parametrize("extra", [
    pytest.param("x" * (CSV_LIMIT + 1) + ",m", id="unquoted-just-over-the-limit"),
    pytest.param("m," + "x" * 300_000, id="unquoted-300k-last"),
    pytest.param('"' + "y, " * 50_000 + '",m', id="quoted-on-one-line"),
    pytest.param('"' + '""' * (CSV_LIMIT + 1) + '",m', id="quoted-doubled-quotes"),
    pytest.param("x" * 200_000 + ',"a\r\nb"', id="then-a-short-value-on-two-lines"),
])
@pytest.mark.parametrize("header", [0, 1], ids=["plain-header", "quoted-header"])
def test_an_extra_column_of_any_length_is_accepted(extra, header):
    data = both_headers(csv_bytes("item_id,order_id,note,more", "1,o1,n,m", f"2,o2,{extra}", "3,o3,,"))
    stats = ParseStats()

    assert parse("items", data[header], stats=stats) == [Item("1", "o1"), Item("2", "o2"), Item("3", "o3")]
    assert (stats.rows_read, stats.rows_rejected) == (3, 0)


@pytest.mark.parametrize("cut", [10, 30, 5_000, 150_000, 200_020])
def test_a_long_extra_value_is_accepted_wherever_the_chunks_are_cut(cut):
    data = both_headers(csv_bytes("item_id,order_id,note", "1,o1," + "x" * 200_000, '2,o2,"a\nb"'))[1]

    assert parse("items", data, chunks=[data[:cut], data[cut:]]) == [Item("1", "o1"), Item("2", "o2")]


@pytest.mark.parametrize("header", [0, 1], ids=["plain-header", "quoted-header"])
def test_a_checked_value_over_the_csv_limit_gets_its_own_limit_and_checking_goes_on(header):
    data = both_headers(csv_bytes("item_id,order_id", "1,o1", "2," + "x" * (CSV_LIMIT + 1),
                                  '"3",' + "y" * 300_000, "4,"))[header]

    assert rejection("items", data).problems == [
        Problem(3, "order_id", "x" * 40 + "...",
                "the value is longer than 200 characters (it has 131,073); shorten it"),
        Problem(4, "order_id", "y" * 40 + "...",
                "the value is longer than 200 characters (it has 300,000); shorten it"),
        Problem(5, "order_id", "", "the value is missing")]


def test_an_amount_over_the_csv_limit_says_how_many_digits():
    data = csv_bytes(ORDERS_HEADER, "1,1,1.00", "2,1," + "9" * (CSV_LIMIT + 5))

    assert located(rejection("orders", data)) == [
        (3, "amount", "the amount has 131077 digits before the decimal point; at most 15 are allowed")]


@pytest.mark.parametrize("value, shown", [
    pytest.param('"o2\n' + "x" * CSV_LIMIT + '"', '"o2', id="closed-after-the-limit"),
    pytest.param('"' + "x" * CSV_LIMIT + '\no2"', '"' + "x" * 39 + "...", id="over-the-limit-at-a-line-end"),
])
@pytest.mark.parametrize("header", [0, 1], ids=["plain-header", "quoted-header"])
def test_a_quoted_value_spanning_lines_keeps_the_csv_limit(value, shown, header):
    data = both_headers(csv_bytes("item_id,order_id,note", f"1,o1,{value}", "2,o2,y"))[header]

    assert rejection("items", data).problems == [Problem(2, "note", shown, LONG_QUOTED)]


def test_a_quote_never_closed_over_more_than_the_csv_limit_points_at_its_line():
    data = csv_bytes("item_id,order_id", "1,o1", '2,"o2', *["3,o3"] * 30_000)

    assert rejection("items", data).problems == [Problem(3, "order_id", '"o2', LONG_QUOTED)]


@pytest.mark.parametrize("rest, problem", [
    pytest.param(',"n"x', Problem(2, "note", '"n"x', TEXT_AFTER_QUOTE), id="text-after-a-quote"),
    pytest.param(",n\rx", Problem(2, "note", "n\rx", LONE_CR), id="lone-cr"),
    pytest.param(',"n', Problem(2, "note", '"n', UNCLOSED_QUOTE), id="quote-never-closed-at-the-end"),
])
def test_broken_csv_after_a_long_value_is_reported_as_without_it(rest, problem):
    data = b'"item_id",order_id,extra,note\n1,o1,' + b"x" * (CSV_LIMIT + 1) + rest.encode()

    assert rejection("items", data).problems == [problem]


def test_a_first_row_of_empty_cells_is_skipped_before_the_header():
    data = b",,\r\ncustomer_id,customer_name,notes\r\n1,Ann,x\r\n"

    assert parse("customers", data) == [Customer("1", "Ann")]


@pytest.mark.parametrize("data, problem", [
    pytest.param(b"item_id\r,order_id\n1,o1\n", Problem(1, "", "item_id\r,order_id", LONE_CR),
                 id="cr-in-the-header"),
    pytest.param(b"item_id,order_id\r1,o1\r2,o2\r", Problem(1, "", "order_id\r1,o1\r2,o2\r", LONE_CR),
                 id="old-mac-line-ends"),
    pytest.param(b'\n"item_id,order_id\n1,o1\n', Problem(2, "", '"item_id,order_id', UNCLOSED_QUOTE),
                 id="quote-never-closed-in-the-header"),
    pytest.param(b'"item_id"x,order_id\n1,o1\n', Problem(1, "", '"item_id"x,order_id', TEXT_AFTER_QUOTE),
                 id="text-after-a-quote-in-the-header"),
])
def test_malformed_csv_in_the_header_says_what_and_what_to_do(data, problem):
    error = rejection("items", data)

    assert error.problems == [problem]
    assert error.hint == FIX_HINT


class _ReaderThatFails:
    """Stands in for csv.reader: reads one line, then fails as csv.reader never does on this input."""

    def __init__(self, lines, **_):
        self.lines, self.line_num = lines, 0

    def __iter__(self):
        return self

    def __next__(self):
        next(self.lines)
        self.line_num += 1
        raise csv.Error("iterator should return strings, not bytes (the file should be opened in text mode)")


def test_any_other_csv_error_is_worded_for_the_partner_too(monkeypatch):
    monkeypatch.setattr(csv, "reader", _ReaderThatFails)

    assert located(rejection("items", b'"item_id",order_id\n1,2\n')) == [
        (1, "", "the line is not valid CSV: check its quotes, commas and line ends")]


@pytest.mark.parametrize("data", [
    b'item_id,order_id\n"1"x,2\n', b"item_id\r,order_id\n", b'item_id,order_id\n"1',
    b"item_id,order_id\n1,2\r3\n", b'"item_id,order_id\n', b"item_id,order_id\n1," + b"x" * 131_073 + b"\n"])
def test_no_csv_module_text_reaches_a_partner(data):
    [problem] = rejection("items", data).problems

    assert not any(jargon in problem.reason for jargon in (
        "malformed CSV", "expected after", "new-line character", "universal-newline", "field limit",
        "field larger", "end of data")), problem.reason
