"""Plain values the pipeline passes around: input rows and output messages.

The input rows (``Customer``, ``Order``, ``Item``) belong to the registry of
file kinds, ``chalicelib.kinds``, and are importable from here too. They and the
order summaries are named tuples: a file has millions of them, and a tuple is
made in C (``tuple.__new__``) and left alone by the cyclic garbage collector,
where a dataclass instance costs a Python call and a place in every collection.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple
from urllib.parse import quote

from chalicelib.keys import BatchRef
from chalicelib.kinds import Customer, Item, Order

__all__ = ["Customer", "CustomerMessage", "Item", "Order", "OrderSummary"]


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
    folder: str = ""  # of the batch's files; "" at the top of the bucket

    @property
    def batch(self) -> BatchRef:
        return BatchRef(self.folder, self.batch_id)

    @property
    def idempotency_key(self) -> str:
        """Unique per (folder, batch, customer, revision): consumers can drop repeats by it.

        ``<folder>/<batch>/<customer>/<revision>``, the folder left out at the
        top of the bucket. The customer id is URL-quoted, so it holds no '/'
        and the key reads back unambiguously from the right.
        """
        return f"{self.batch.key}/{quote(self.customer_id, safe='')}/{self.revision}"
