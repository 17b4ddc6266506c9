"""parsing: byte chunks in, typed rows out, and every problem located by line and column."""
from __future__ import annotations

import csv
import gzip
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import InvalidFileError, Problem
from chalicelib.model import Customer, Item, Order
from chalicelib.parsing import FIX_HINT, ParseStats, decode_lines, parse_rows

BOM = b"\xef\xbb\xbf"
AMOUNT_REASON = ("the amount must be a non-negative decimal number: digits 0-9 with an optional '.', "
                 "at most 15 digits before the point and at most 2 decimal places, e.g. 1234.50")
ORDERS_HEADER = "order_id,customer_id,amount"


def csv_bytes(*lines: str, end: str = "\n", bom: bool = False) -> bytes:
    return (BOM if bom else b"") + "".join(line + end for line in lines).encode("utf-8")


def parse(kind: str, data: bytes, chunks: list[bytes] | None = None, **kwargs) -> list:
    return list(parse_rows(kind, chunks if chunks is not None else [data], f"{kind}_b1.csv", **kwargs))


def rejection(kind: str, data: bytes, **kwargs) -> InvalidFileError:
    with pytest.raises(InvalidFileError) as caught:
        parse(kind, data, **kwargs)
    return caught.value


def located(error: InvalidFileError) -> list[tuple[int, str, str]]:
    return [(p.line, p.column, p.reason) for p in error.problems]


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


# --- chunk boundaries --------------------------------------------------------------

# Everything a chunk boundary can cut: the BOM, a CRLF, multi-byte UTF-8 (2, 3 and
# 4 bytes), a quoted value with its spaces, and a quoted value spanning lines (in
# the extra column: a required value may not hold a line break).
TRICKY = BOM + ("customer_id,customer_name,notes\r\n"
          "1,José Müller,\r\n"
          '2," Doe, Jane ","first line\r\nsecond line"\r\n'
          "\r\n"
          "3,日本 🎉,x\r\n").encode()
TRICKY_ROWS = [Customer("1", "José Müller"), Customer("2", " Doe, Jane "), Customer("3", "日本 🎉")]


def test_the_tricky_file_parses_whole():
    assert parse("customers", TRICKY) == TRICKY_ROWS


@pytest.mark.parametrize("offset", range(len(TRICKY) + 1))
def test_a_split_at_any_byte_gives_the_same_rows(offset):
    assert parse("customers", TRICKY, chunks=[TRICKY[:offset], TRICKY[offset:]]) == TRICKY_ROWS


def test_one_byte_chunks_give_the_same_rows():
    assert parse("customers", TRICKY, chunks=[bytes([b]) for b in TRICKY]) == TRICKY_ROWS


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(TRICKY)), max_size=8))
def test_any_number_of_splits_gives_the_same_lines_and_rows(cuts):
    bounds = [0, *sorted(cuts), len(TRICKY)]
    chunks = [TRICKY[a:b] for a, b in zip(bounds, bounds[1:])]

    assert "".join(decode_lines(chunks, "f.csv")) == TRICKY[len(BOM):].decode("utf-8")
    assert parse("customers", TRICKY, chunks=chunks) == TRICKY_ROWS


def test_decode_lines_keeps_line_ends_and_drops_only_a_leading_bom():
    data = BOM + "a\r\nb\u2028c\n\ufeffd".encode("utf-8")

    assert list(decode_lines([data], "f.csv")) == ["a\r\n", "b\u2028c\n", "\ufeffd"]


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


# --- control characters ---------------------------------------------------------------
# A plain header lets clean blocks take the fast path; a quoted one sends the file
# down the exact path. Each case runs both ways: the rule is the same.

BOTH_PATHS = pytest.mark.parametrize("quote_header", [False, True], ids=["fast-path", "exact-path"])


def with_header(columns: str, *rows: str, quote_header: bool) -> bytes:
    """A header, 50 clean rows (a block for the fast path), then ``rows``."""
    names = columns.split(",")
    header = ",".join(f'"{name}"' for name in names) if quote_header else columns
    filler = ["1.00" if name == "amount" else "x" for name in names[1:]]
    clean = [",".join([f"c{n}", *filler]) for n in range(50)]
    return csv_bytes(header, *clean, *rows)


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


def test_invalid_utf8_names_the_line_and_the_bytes():
    data = b"customer_id,customer_name\n1,Ann\n2,Ren\xe9e\n"
    error = rejection("customers", data)

    assert error.problems == [Problem(3, "", "e9", "the file is not valid UTF-8 at this line")]
    assert error.hint == "Export the file as UTF-8 and upload it again."


@pytest.mark.parametrize("offset", range(30, 45))
def test_invalid_utf8_is_located_wherever_the_chunks_are_cut(offset):
    data = b"customer_id,customer_name\n1,Ann\n\n2,Ren\xe9e\n3,Bo\n"

    error = rejection("customers", data, chunks=[data[:offset], data[offset:]])

    assert located(error) == [(4, "", "the file is not valid UTF-8 at this line")]


TEXT = "customer_id,customer_name\r\n1,Ann\r\n"
AS_UTF8 = ("Save the file as UTF-8 CSV (in Excel: Save As, 'CSV UTF-8 (Comma delimited)') and upload it "
           "again under the same key.")


@pytest.mark.parametrize("data, value, reason, hint", [
    pytest.param(TEXT.encode("utf-16"), "ff fe",
                 "the file is UTF-16 (it starts with the byte-order mark FF FE), not UTF-8", AS_UTF8,
                 id="utf-16-le"),
    pytest.param(b"\xfe\xff" + TEXT.encode("utf-16-be"), "fe ff",
                 "the file is UTF-16 (it starts with the byte-order mark FE FF), not UTF-8", AS_UTF8,
                 id="utf-16-be"),
    pytest.param(TEXT.encode("utf-16-le"), "63 00 75 00 73 00 74 00",
                 "the file looks like UTF-16 without a byte-order mark (every other byte is NUL, 00), "
                 "not UTF-8", AS_UTF8, id="utf-16-le-no-bom"),
    pytest.param(TEXT.encode("utf-16-be"), "00 63 00 75 00 73 00 74",
                 "the file looks like UTF-16 without a byte-order mark (every other byte is NUL, 00), "
                 "not UTF-8", AS_UTF8, id="utf-16-be-no-bom"),
    pytest.param(TEXT.encode("utf-32"), "ff fe 00 00",
                 "the file is UTF-32 (it starts with the byte-order mark FF FE 00 00), not UTF-8", AS_UTF8,
                 id="utf-32-le"),
    pytest.param(b"\x00\x00\xfe\xff" + TEXT.encode("utf-32-be"), "00 00 fe ff",
                 "the file is UTF-32 (it starts with the byte-order mark 00 00 FE FF), not UTF-8", AS_UTF8,
                 id="utf-32-be"),
    pytest.param(gzip.compress(TEXT.encode(), mtime=0), "1f 8b",
                 "the file is compressed with gzip (it starts with the bytes 1F 8B), not CSV text",
                 "Upload the CSV file uncompressed (gunzip it first) under the same key.", id="gzip"),
    pytest.param(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(20)) + b"\n", "50 4b 03 04",
                 "the file is a zip archive (it starts with the bytes PK 03 04), not CSV text; an Excel "
                 "workbook (.xlsx) is one too",
                 "Upload the CSV file itself under the same key: unzip the archive, or save the workbook as "
                 "UTF-8 CSV (in Excel: Save As, 'CSV UTF-8 (Comma delimited)').", id="zip"),
])
@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "one-byte-chunks"])
def test_a_file_that_is_not_utf8_text_says_what_it_is_and_what_to_do(data, value, reason, hint, chunked):
    chunks = [bytes([b]) for b in data] if chunked else [data]

    error = rejection("customers", data, chunks=chunks)

    assert error.problems == [Problem(1, "", value, reason)]
    assert error.hint == hint


@pytest.mark.parametrize("data", [b"", b"a", b"\xff", b"\x1f", b"P", b"a\x00"], ids=repr)
def test_a_file_too_short_to_tell_is_judged_as_text(data):
    error = rejection("customers", data)

    assert "UTF-16" not in str(error) and "gzip" not in str(error) and "zip" not in str(error)


@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20], ids=["bytewise", "small-chunks", "whole"])
def test_invalid_utf8_keeps_the_problems_found_before_it(chunk_size):
    data = b"order_id,customer_id,amount\n1,1,abc\n2,1,Ren\xe9e\n3,1,5.00\n"
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]

    with pytest.raises(InvalidFileError) as caught:
        list(parse_rows("orders", chunks, "orders_1.csv"))

    assert located(caught.value) == [
        (2, "amount", AMOUNT_REASON),
        (3, "", "the file is not valid UTF-8 at this line"),
    ]
    assert caught.value.problem_count == 2
    assert caught.value.hint == ("Fix the rows listed, export the file as UTF-8 and upload it again "
                                 "under the same key.")


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


# --- all problems, the cap, stats and streaming ------------------------------------------

def test_no_rows_after_the_first_problem_but_every_problem_listed():
    data = csv_bytes(ORDERS_HEADER, "1,1,1.00", "2,1,2.00", "3,1,x", "4,1,4.00", "5,,5.00")
    stats = ParseStats()
    yielded: list = []

    with pytest.raises(InvalidFileError) as caught:
        for row in parse_rows("orders", [data], "orders_b1.csv", stats=stats):
            yielded.append(row)

    assert [o.order_id for o in yielded] == ["1", "2"]
    assert located(caught.value) == [(4, "amount", AMOUNT_REASON), (6, "customer_id", "the value is missing")]
    assert (stats.rows_read, stats.rows_rejected) == (5, 2)


def test_stats_of_an_accepted_file():
    stats = ParseStats()
    parse("items", csv_bytes("item_id,order_id", "1,1", "", "2,1", "3,2"), stats=stats)

    assert (stats.rows_read, stats.rows_rejected) == (3, 0)


def test_a_row_with_several_problems_is_one_rejected_row():
    stats = ParseStats()
    error = rejection("orders", csv_bytes(ORDERS_HEADER, "1,1,1.00", ",,bad"), stats=stats)

    assert error.problem_count == 3
    assert (stats.rows_read, stats.rows_rejected) == (2, 1)


def test_max_reported_caps_the_list_but_not_the_count():
    bad_rows = [f"{n},1,bad{n}" for n in range(1, 8)]
    error = rejection("orders", csv_bytes(ORDERS_HEADER, *bad_rows), max_reported=2)

    assert [(p.line, p.value) for p in error.problems] == [(2, "bad1"), (3, "bad2")]
    assert error.problem_count == 7


def test_the_default_cap_is_1000_problems():
    error = rejection("items", csv_bytes("item_id,order_id", *[f"{n}," for n in range(1500)]))

    assert len(error.problems) == 1000
    assert error.problem_count == 1500
    assert error.problems[-1].line == 1001


def test_the_error_message_says_file_where_what_and_what_to_do():
    data = csv_bytes(ORDERS_HEADER, "1,1,-5", "2,,1.00", "2,1,1.00", "4,1,1.234", "5,1,1e2")
    error = rejection("orders", data, max_reported=4)

    assert error.file_name == "orders_b1.csv"
    assert error.problem_count == 5
    assert len(error.problems) == 4
    assert error.hint == FIX_HINT
    assert str(error) == (
        f"orders_b1.csv was rejected: line 2, column 'amount': {AMOUNT_REASON} (value '-5'); "
        "line 3, column 'customer_id': the value is missing; "
        "line 4, column 'order_id': duplicate id: already used on line 3 (value '2'); "
        "and 2 more problem(s). Fix the rows listed and upload the file again under the same key.")


# --- the fast path and the exact path agree ------------------------------------------
# A quoted header sends the whole file down the exact (csv.reader) path; a plain
# header lets every well-formed block take the fast path. Both must give the
# same rows, or the same problems on the same lines.

FIELD = st.one_of(
    st.sampled_from(["1", "07", "1001", "250.00", "1.5", "abc", "a b", "x" * 200, "3 ", " 2", "\u00a0x",
                     "x\t", "", "1e2", "-5", "x" * 201, '"q"', "\u2028", "9" * 16, "1.999", "a\rb",
                     # control characters, bare and quoted; quoted values with spaces or line breaks
                     "a\x00b", "\x7f", "x\x1f", "\x0b1", "\t", "\x1b[0m", '"\x00"', '"a\tb"', '" 1"',
                     '"  Jane "', '"  "', '" 2.50"', '"a\nb"', '"a\r\nb"', '"x"y', '"open', "9" * 22]),
    st.text(alphabet="0129.ab ,\t\r\n\"\u00e9\x00\x1f\x7f", max_size=6))
COLUMNS = {"customers": ["customer_id", "customer_name"],
           "orders": ["order_id", "customer_id", "amount"],
           "items": ["item_id", "order_id"]}


@settings(max_examples=400, deadline=None)
@given(data=st.data(), kind=st.sampled_from(list(COLUMNS)), clean_rows=st.integers(0, 30),
       line_end=st.sampled_from(["\n", "\r\n"]),
       cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_fast_and_exact_paths_give_the_same_rows_or_the_same_problems(data, kind, clean_rows,
                                                                        line_end, cuts):
    columns = COLUMNS[kind]
    # Mostly rows of the header's width, so that blocks of them can take the fast path.
    widths = st.integers(len(columns) - 1, len(columns) + 1) | st.just(len(columns))
    rows = data.draw(st.lists(widths.flatmap(lambda w: st.lists(FIELD, min_size=w, max_size=w)),
                              max_size=8))
    clean = [",".join([f"{kind[0]}{n}"] + ["1.00" if c == "amount" else "v" for c in columns[1:]])
             for n in range(clean_rows)]
    body = "".join(line + line_end for line in clean + [",".join(r) for r in rows]).encode("utf-8")
    plain = (",".join(columns) + line_end).encode("utf-8") + body
    quoted = (",".join(f'"{c}"' for c in columns) + line_end).encode("utf-8") + body

    def outcome(data: bytes):
        points = sorted({c for c in cuts if c < len(data)} | {0, len(data)})
        chunks = [data[a:b] for a, b in zip(points, points[1:])]
        stats = ParseStats()
        try:
            return list(parse_rows(kind, chunks, "f.csv", stats=stats)), None, stats
        except InvalidFileError as exc:
            return None, (exc.problems, exc.problem_count), stats

    assert outcome(plain) == outcome(quoted)


def test_a_repeat_of_an_id_read_by_the_fast_path_names_its_line():
    rows = [f"{n},1" for n in range(1, 200)] + ["150,2"]
    data = csv_bytes("item_id,order_id", *rows)
    cut = data.index(b"190,1")  # the first block is all fast; the repeat is in the second

    error = rejection("items", data, chunks=[data[:cut], data[cut:]])

    assert located(error) == [(201, "item_id", "duplicate id: already used on line 151")]


def test_rows_of_fast_blocks_before_a_bad_block_are_yielded_and_lines_stay_right():
    good = [f"{n},1,1.00" for n in range(1, 101)]
    data = csv_bytes(ORDERS_HEADER, *good, '"101",1,2.00', "102,1,x")
    cut = data.index(b'"101"')
    yielded = []

    with pytest.raises(InvalidFileError) as caught:
        for row in parse_rows("orders", [data[:cut], data[cut:]], "orders_b1.csv"):
            yielded.append(row)

    assert len(yielded) == 101  # the fast block's 100, then the exact path's "101"
    assert located(caught.value) == [(103, "amount", AMOUNT_REASON)]


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
