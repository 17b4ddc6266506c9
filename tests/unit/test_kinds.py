"""kinds: the one registry of file kinds, and what the parser, the store and the keys derive from it."""
from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import pytest

from chalicelib import keys, model
from chalicelib.kinds import FILE_KINDS, KINDS, ORDERS, Customer, FileKind, Item, Order, file_kind
from chalicelib.parsing import parse_rows
from chalicelib.row_chunks import cut_chunks, decode_chunk
from tests.conftest import sample_bytes


def test_the_kinds_in_their_order_and_where_other_modules_import_them():
    assert KINDS == ("customers", "orders", "items") == tuple(kind.name for kind in FILE_KINDS)
    assert keys.KINDS is KINDS
    assert [file_kind(name) for name in KINDS] == list(FILE_KINDS)


def test_an_unknown_kind_is_a_key_error():
    with pytest.raises(KeyError):
        file_kind("invoices")


@pytest.mark.parametrize("kind", FILE_KINDS, ids=KINDS)
def test_a_kind_has_its_id_first_and_a_row_field_per_column(kind):
    assert kind.id_column == kind.columns[0] and kind.id_column.endswith("_id")
    assert len(kind.row_type._fields) == len(kind.columns)
    assert kind.header == ",".join(kind.columns)


def test_only_orders_have_an_amount_and_it_becomes_a_decimal():
    assert [(kind.name, kind.amount_index) for kind in FILE_KINDS] == [
        ("customers", -1), ("orders", 2), ("items", -1)]
    assert ORDERS.build(["1001", "1", "250.00"]) == Order("1001", "1", Decimal("250.00"))


@pytest.mark.parametrize("kind", FILE_KINDS, ids=KINDS)
def test_rows_built_one_at_a_time_or_by_whole_columns_are_the_same(kind):
    values = [[f"{column}-{n}" if index != kind.amount_index else f"{n}.50"
               for index, column in enumerate(kind.columns)] for n in range(3)]
    one_by_one = [kind.build(list(row)) for row in values]

    by_columns = kind.build_all([list(column) for column in zip(*values)])

    assert by_columns == one_by_one and all(type(row) is kind.row_type for row in by_columns)


def test_a_row_type_must_have_a_field_per_required_column():
    class Pair(NamedTuple):
        a: str
        b: str

    with pytest.raises(ValueError, match="a field per required column"):
        FileKind("triples", ("a_id", "b", "c"), Pair)


@pytest.mark.parametrize("kind", FILE_KINDS, ids=KINDS)
def test_a_sample_file_of_each_kind_parses_into_its_row_type_and_is_stored_and_read_back(kind):
    rows = list(parse_rows(kind.name, [sample_bytes(kind.name)], f"{kind.name}_20230828.csv"))
    [chunk] = cut_chunks(kind.name, rows)

    assert rows and all(type(row) is kind.row_type for row in rows)
    assert decode_chunk(kind.name, chunk.data) == rows


def test_the_row_types_are_the_models():
    assert (model.Customer, model.Order, model.Item) == (Customer, Order, Item)
    assert [kind.row_type for kind in FILE_KINDS] == [Customer, Order, Item]
