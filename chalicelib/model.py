"""Plain values the pipeline passes around: input rows and output messages."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    customer_id: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    order_id: str


@dataclass(frozen=True, slots=True)
class OrderSummary:
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
