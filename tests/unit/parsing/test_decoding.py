"""parsing: bytes to text: chunk boundaries anywhere, and files that are not UTF-8 text."""
from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import InvalidFileError, Problem
from chalicelib.model import Customer
from chalicelib.parsing import decode_lines, parse_rows
from tests.unit.parsing.helpers import (
    AMOUNT_REASON,
    BOM,
    located,
    parse,
    rejection,
)

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
