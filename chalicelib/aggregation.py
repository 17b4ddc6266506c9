"""Joins a batch's customers, orders and items into per-customer messages. Pure."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from chalicelib.model import Customer, CustomerMessage, Item, Order, OrderSummary


@dataclass(frozen=True)
class BatchAggregate:
    messages: list[CustomerMessage]
    orphan_orders: list[Order]  # orders whose customer is not in the customers file
    orphan_items: list[Item]    # items whose order is not in the orders file


def natural_key(identifier: str) -> tuple:
    """Sort numeric ids numerically ("2" before "10"), others by text, numbers first."""
    # isascii: str.isdigit is also true for "1²" or "①", which int() refuses.
    numeric = identifier.isascii() and identifier.isdigit()
    return (0, int(identifier), identifier) if numeric else (1, 0, identifier)


def _sorted_ids(ids: list[str]) -> tuple[str, ...]:
    # Most orders have one or two items: skip the key function where there is nothing to sort.
    return tuple(sorted(ids, key=natural_key)) if len(ids) > 1 else tuple(ids)


def _sorted_orders(orders: list[Order]) -> list[Order]:
    return sorted(orders, key=lambda o: natural_key(o.order_id)) if len(orders) > 1 else orders


def aggregate_batch(batch_id: str, revision: int, customers: Iterable[Customer],
                    orders: Iterable[Order], items: Iterable[Item]) -> BatchAggregate:
    names = {c.customer_id: c.name for c in customers}
    orders_by_customer: dict[str, list[Order]] = {}
    known_orders: set[str] = set()
    orphan_orders = []
    for order in orders:
        if order.customer_id in names:
            orders_by_customer.setdefault(order.customer_id, []).append(order)
            known_orders.add(order.order_id)
        else:
            orphan_orders.append(order)
    orphan_order_ids = {o.order_id for o in orphan_orders}
    item_ids: dict[str, list[str]] = {}
    orphan_items = []
    for item in items:
        if item.order_id in known_orders:
            item_ids.setdefault(item.order_id, []).append(item.item_id)
        elif item.order_id not in orphan_order_ids:
            # Items of an orphan order are not orphans themselves: their order is
            # in the file, it is the order that has no customer.
            orphan_items.append(item)

    messages = []
    no_orders: list[Order] = []
    for customer_id in sorted(names, key=natural_key):
        summaries = tuple(
            OrderSummary(order.order_id, order.amount, _sorted_ids(item_ids.get(order.order_id, ())))
            for order in _sorted_orders(orders_by_customer.get(customer_id, no_orders)))
        # Starting from 0.00 keeps two places even for a customer with no orders.
        total = sum((s.amount for s in summaries), Decimal("0.00"))
        messages.append(CustomerMessage(batch_id, revision, customer_id, names[customer_id],
                                        total, summaries))
    orphan_orders.sort(key=lambda o: natural_key(o.order_id))
    orphan_items.sort(key=lambda i: natural_key(i.item_id))
    return BatchAggregate(messages, orphan_orders, orphan_items)
