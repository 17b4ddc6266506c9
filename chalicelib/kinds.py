"""The kinds of partner file, in one registry: what each file holds and the row it becomes.

A batch is one file of each kind. What depends only on the kinds is derived
from ``FILE_KINDS``: the columns parsing requires (``chalicelib.parsing``), how
rows are stored (``chalicelib.row_chunks``), which file names are a kind's and
the order of a batch's files (``chalicelib.keys.KINDS``), and the headers and
files of the scripts. What the rows mean (how ``chalicelib.aggregation`` joins
them, the values ``scripts.generate`` makes up) is code of its own.

Rows are named tuples: a file has millions of them, and a tuple is made in C
(``tuple.__new__``) and left alone by the cyclic garbage collector, where a
dataclass instance costs a Python call and a place in every collection.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple


class Customer(NamedTuple):
    customer_id: str
    name: str


class Order(NamedTuple):
    order_id: str
    customer_id: str
    amount: Decimal


class Item(NamedTuple):
    item_id: str
    order_id: str


@dataclass(frozen=True)
class FileKind:
    """One kind of file: its name, its required columns (the row's unique id first),
    the row each line becomes (one field per required column, in their order) and the
    column that holds an amount (a ``Decimal`` in the row), if any."""

    name: str
    columns: tuple[str, ...]
    row_type: type[tuple]
    amount_column: str | None = None
    amount_index: int = field(init=False)  # of the amount among the columns; -1 for none

    def __post_init__(self) -> None:
        if len(self.row_type._fields) != len(self.columns):  # type: ignore[attr-defined]
            raise ValueError(f"{self.name}: {self.row_type.__name__} must have a field per required column")
        index = self.columns.index(self.amount_column) if self.amount_column else -1
        object.__setattr__(self, "amount_index", index)

    @property
    def id_column(self) -> str:
        return self.columns[0]

    @property
    def header(self) -> str:
        """The header line of a file with the required columns only, in their order."""
        return ",".join(self.columns)

    def build(self, values: list[Any]) -> tuple:
        """The row of one line's required values (strings in the columns' order; the list is changed)."""
        if self.amount_index >= 0:
            values[self.amount_index] = Decimal(values[self.amount_index])
        return self.row_type(*values)

    def build_all(self, columns: list[list[str]]) -> list:
        """The rows of whole columns of values at once: the loop runs in C, not per row in Python."""
        typed: list[Iterable[object]] = list(columns)
        if self.amount_index >= 0:
            typed[self.amount_index] = map(Decimal, columns[self.amount_index])
        return list(map(partial(tuple.__new__, self.row_type), zip(*typed)))


CUSTOMERS = FileKind("customers", ("customer_id", "customer_name"), Customer)
ORDERS = FileKind("orders", ("order_id", "customer_id", "amount"), Order, amount_column="amount")
ITEMS = FileKind("items", ("item_id", "order_id"), Item)

# The order in which a batch's files are listed, reported and read back.
FILE_KINDS: tuple[FileKind, ...] = (CUSTOMERS, ORDERS, ITEMS)
KINDS: tuple[str, ...] = tuple(kind.name for kind in FILE_KINDS)
_BY_NAME = {kind.name: kind for kind in FILE_KINDS}


def file_kind(name: str) -> FileKind:
    """The kind named ``name``; ``KeyError`` for a name that is none (a caller's bug: keys
    are checked against ``KINDS`` before any file is read)."""
    return _BY_NAME[name]
