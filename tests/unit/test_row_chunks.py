"""row_chunks: rows to compressed blocks and back, cut the same way however they were read."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest

from chalicelib.item_sizes import MAX_ITEM_BYTES
from chalicelib.kinds import KINDS
from chalicelib.model import Customer, Item, Order
from chalicelib.row_chunks import CHUNK_RAW_BYTES, cut_chunks, decode_chunk

ROWS: dict[str, list[tuple]] = {
    "customers": [Customer("1", "John Doe"), Customer("2", "Ünïcødé 名前"), Customer("3", "")],
    # Amounts keep their scale: 250.00 must not come back as 250.
    "orders": [Order("1001", "1", Decimal("250.00")), Order("1002", "2", Decimal("0.10")),
               Order("1003", "1", Decimal("999999999999999.99"))],
    "items": [Item("501", "1001"), Item("502", "1001"), Item("x-3", "1002")],
}


@pytest.mark.parametrize("kind", list(ROWS))
def test_rows_come_back_exactly_as_the_parser_made_them(kind):
    [chunk] = cut_chunks(kind, ROWS[kind])

    decoded = decode_chunk(kind, chunk.data)

    assert decoded == ROWS[kind] and chunk.rows == 3 and chunk.number == 0
    assert [type(r) for r in decoded] == [type(r) for r in ROWS[kind]]
    if kind == "orders":
        assert [str(o.amount) for o in decoded] == ["250.00", "0.10", "999999999999999.99"]


def test_no_rows_make_no_chunks():
    assert list(cut_chunks("items", [])) == []


def many_items(count: int) -> list[Item]:
    return [Item(f"item-{n}", f"order-{n // 3}") for n in range(count)]


def test_chunks_are_cut_at_line_ends_under_the_size_and_numbered_in_order():
    rows = many_items(50_000)

    chunks = list(cut_chunks("items", rows, raw_bytes=64 * 1024))

    assert [c.number for c in chunks] == list(range(len(chunks))) and len(chunks) > 5
    assert all(c.raw_bytes <= 64 * 1024 for c in chunks)
    assert sum(c.rows for c in chunks) == 50_000
    assert [r for c in chunks for r in decode_chunk("items", c.data)] == rows


def test_the_cut_depends_only_on_the_rows_not_on_how_they_were_read():
    # A retried invocation reads the same file in other pieces: same chunks, byte for byte.
    rows = many_items(20_000)

    def in_pieces():
        it = iter(rows)
        rng = random.Random(3)
        while piece := [r for _, r in zip(range(rng.randint(1, 5000)), it)]:
            yield from piece

    first = [(c.number, c.rows, c.data) for c in cut_chunks("items", rows, raw_bytes=32 * 1024)]
    again = [(c.number, c.rows, c.data) for c in cut_chunks("items", in_pieces(), raw_bytes=32 * 1024)]
    assert first == again


def test_incompressible_rows_still_fit_a_dynamodb_item():
    rng = random.Random(11)
    alphabet = "".join(map(chr, range(0x4E00, 0x4E00 + 2000)))  # 3 bytes each in UTF-8
    rows = [Customer(str(n), "".join(rng.choice(alphabet) for _ in range(200))) for n in range(3000)]

    chunks = list(cut_chunks("customers", rows))

    assert max(c.raw_bytes for c in chunks) <= CHUNK_RAW_BYTES
    # The key and the other attributes take well under 1 KB more.
    assert max(len(c.data) for c in chunks) < MAX_ITEM_BYTES - 2048


@pytest.mark.parametrize("row", [Customer("1", "a\tb"), Customer("1", "a\nb")])
def test_a_value_holding_a_separator_is_refused_rather_than_split(row):
    with pytest.raises(ValueError, match="holds a tab or a line break"):
        list(cut_chunks("customers", [row]))


def test_every_kind_has_sample_rows_here():
    assert sorted(ROWS) == sorted(KINDS)


def test_a_chunk_whose_lines_do_not_have_the_kinds_fields_is_refused():
    [chunk] = cut_chunks("items", ROWS["items"])  # two values a line, not three

    with pytest.raises(ValueError, match="6 values in 3 lines, not 3 a line"):
        decode_chunk("orders", chunk.data)
