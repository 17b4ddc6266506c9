"""Plain values the pipeline passes around: input rows and output messages.

Input rows and order summaries are named tuples: a file has millions of them, and a tuple is made
in C (``tuple.__new__``) and left alone by the cyclic garbage collector, where
a dataclass instance costs a Python call and a place in every collection.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple


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


class OrderSummary(NamedTuple):
    order_id: str
    amount: Decimal
    item_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    """What downstream systems receive for one customer of one batch revision."""

    batch_id: str
    revision: int
    customer_id: str
    name: str
    total_amount_spent: Decimal
    orders: tuple[OrderSummary, ...]

    @property
    def idempotency_key(self) -> str:
        """Unique per (batch, customer, revision): consumers can drop repeats by it."""
        return f"{self.batch_id}/{self.customer_id}/{self.revision}"
