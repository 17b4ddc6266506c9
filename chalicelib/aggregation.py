"""Joins a batch's customers, orders and items into per-customer messages. Pure.

The join is two steps, so that a large batch can be joined a part at a time
(``partitioning.py``): orders meet their items (both keyed by order id), then
customers meet their orders (both keyed by customer id). ``aggregate_batch``
does both at once, for a batch that fits in memory.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from operator import attrgetter

from chalicelib.gcpause import gc_paused
from chalicelib.model import Customer, CustomerMessage, Item, Order, OrderSummary

PlacedOrder = tuple[str, OrderSummary]  # (customer id, the order with its items)
_ZERO = Decimal("0.00")  # two places even for a customer with no orders


@dataclass(frozen=True)
class BatchAggregate:
    messages: list[CustomerMessage]
    orphan_orders: list[Order]  # orders whose customer is not in the customers file
    orphan_items: list[Item]    # items whose order is not in the orders file


@dataclass
class BatchSummary:
    """What a batch report says: counts, and the first ``limit`` orphans by id."""

    limit: int = 1000
    customers: int = 0
    orphan_order_count: int = 0
    orphan_item_count: int = 0
    orphan_orders: list[Order] = field(default_factory=list)
    orphan_items: list[Item] = field(default_factory=list)

    def add(self, customers: int, orphan_orders: list[Order], orphan_items: list[Item]) -> None:
        self.customers += customers
        self.orphan_order_count += len(orphan_orders)
        self.orphan_item_count += len(orphan_items)
        self.orphan_orders = _first(self.limit, self.orphan_orders, orphan_orders, attrgetter("order_id"))
        self.orphan_items = _first(self.limit, self.orphan_items, orphan_items, attrgetter("item_id"))


def _first(limit: int, kept: list, more: list, key: Callable) -> list:
    if not more:
        return kept
    return heapq.nsmallest(limit, chain(kept, more), key=lambda row: natural_key(key(row)))


def natural_key(identifier: str) -> tuple:
    """Sort numeric ids numerically ("2" before "10"), others by text, numbers first."""
    # isascii: str.isdigit is also true for "1²" or "①", which int() refuses.
    numeric = identifier.isascii() and identifier.isdigit()
    return (0, int(identifier), identifier) if numeric else (1, 0, identifier)


def natural_sorted(ids: Iterable[str]) -> list[str]:
    """``sorted(ids, key=natural_key)``, with the loops in C for the common cases."""
    ids = list(ids)
    if len(ids) < 2:
        return ids
    if not any(map(str.isdigit, ids)):
        return sorted(ids)  # all text: natural order is text order
    if all(map(str.isdigit, ids)) and all(map(str.isascii, ids)):
        return sorted(sorted(ids), key=int)  # all numbers; equal numbers ("7", "07") by text
    return sorted(ids, key=natural_key)


def join_items(orders: Iterable[Order], items: Iterable[Item]) -> tuple[list[PlacedOrder], list[Item]]:
    """Each order with its item ids in natural order; and the items whose order is not there."""
    orders = list(orders)  # read before the pause: reading may make garbage with cycles
    with gc_paused():
        item_ids: dict[str, list[str]] = {order.order_id: [] for order in orders}
        if len(item_ids) != len(orders):
            # The zip below pairs orders with these lists by position.
            raise ValueError("order ids must be unique: the orders file was validated")
        orphan_items = []
        ids_of = item_ids.get
        for item in items:
            ids = ids_of(item[1])  # by index: this loop runs once per item of the batch
            if ids is None:
                orphan_items.append(item)
            else:
                ids.append(item[0])
        summary = OrderSummary._make
        placed = [(order_id_customer_amount[1], summary((
                      order_id_customer_amount[0], order_id_customer_amount[2],
                      tuple(ids if len(ids) < 2 else natural_sorted(ids)))))
                  for order_id_customer_amount, ids in zip(orders, item_ids.values())]
    return placed, orphan_items


def customer_messages(batch_id: str, revision: int, customers: Iterable[Customer],
                      placed: Iterable[PlacedOrder],
                      folder: str = "") -> tuple[list[CustomerMessage], list[Order]]:
    """One message per customer, in natural order of id; and the orders whose customer is not there."""
    with gc_paused():
        names = dict(customers)
        orders: dict[str, dict[str, OrderSummary]] = {customer_id: {} for customer_id in names}
        orphan_orders = []
        orders_of = orders.get
        for customer_id, summary in placed:
            own = orders_of(customer_id)
            if own is None:
                orphan_orders.append(Order(summary.order_id, customer_id, summary.amount))
            else:
                own[summary.order_id] = summary
        messages = []
        amount = attrgetter("amount")
        for customer_id in natural_sorted(names):
            own = orders[customer_id]
            summaries = tuple(own.values() if len(own) < 2 else map(own.__getitem__, natural_sorted(own)))
            messages.append(CustomerMessage(batch_id, revision, customer_id, names[customer_id],
                                            sum(map(amount, summaries), _ZERO), summaries, folder))
    return messages, orphan_orders


def aggregate_batch(batch_id: str, revision: int, customers: Iterable[Customer],
                    orders: Iterable[Order], items: Iterable[Item],
                    folder: str = "") -> BatchAggregate:
    placed, orphan_items = join_items(orders, items)
    messages, orphan_orders = customer_messages(batch_id, revision, customers, placed, folder)
    # Items of an orphan order are not orphans themselves: their order is in
    # the file, it is the order that has no customer.
    orphan_orders.sort(key=lambda o: natural_key(o.order_id))
    orphan_items.sort(key=lambda i: natural_key(i.item_id))
    return BatchAggregate(messages, orphan_orders, orphan_items)
