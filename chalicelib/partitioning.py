"""A batch's messages built a part at a time, so that memory does not grow with the batch.

A batch of up to ``ROWS_PER_PARTITION`` rows in all (the M drop) is joined in memory.
A larger one is split by hash into ``n`` partitions on local disk (``/tmp`` in
Lambda), as in a grace hash join:

1. orders and items go to ``n`` files each by order id, so each order and
   its items land in the same partition;
2. each partition's orders are joined with its items (``join_items``) and the
   result goes to ``n`` files by customer id, as do the customers;
3. each partition's customers are joined with their orders
   (``customer_messages``) and the messages are yielded, to be sent before
   the next partition is read.

Memory then holds one partition at a time: about ``ROWS_PER_PARTITION`` rows,
whatever the batch's size. Disk holds the batch in CSV, spilled twice over
in part (the L drop of 4.1 million rows took at most 124 MB of Lambda's
default 512 MB of ``/tmp``). Messages come out in natural order of customer id within a
partition; across partitions the order follows the hash, which no consumer of
a standard queue could rely on anyway.
"""
from __future__ import annotations

import tempfile
from collections.abc import Generator, Iterable
from decimal import Decimal
from operator import itemgetter

from chalicelib.aggregation import BatchSummary, aggregate_batch, customer_messages, join_items
from chalicelib.model import Customer, CustomerMessage, Item, Order, OrderSummary
from chalicelib.spill import SpillFiles

ROWS_PER_PARTITION = 500_000


def partition_count(rows: int, rows_per_partition: int = ROWS_PER_PARTITION) -> int:
    """How many partitions a batch of ``rows`` rows (all three files) is joined in."""
    return max(1, -(-rows // rows_per_partition))


def batch_messages(batch_id: str, revision: int, customers: Iterable[Customer],
                   orders: Iterable[Order], items: Iterable[Item], partitions: int,
                   summary: BatchSummary, directory: str | None = None,
                   folder: str = "") -> Generator[CustomerMessage]:
    """Every customer's message; ``summary`` is filled in as they are made.

    The rows are read once each, in the order customers, orders, items for a
    batch in memory, and orders, items, customers when partitioned.
    """
    if partitions <= 1:
        aggregate = aggregate_batch(batch_id, revision, customers, orders, items, folder)
        summary.add(len(aggregate.messages), aggregate.orphan_orders, aggregate.orphan_items)
        yield from aggregate.messages
        return
    with tempfile.TemporaryDirectory(prefix=f"batch-{batch_id}-", dir=directory) as spill_dir:
        by_order = SpillFiles(spill_dir, "orders", partitions)
        by_order.write_all(orders, itemgetter(0))  # order id
        items_by_order = SpillFiles(spill_dir, "items", partitions)
        items_by_order.write_all(items, itemgetter(1))  # order id
        by_customer = SpillFiles(spill_dir, "placed", partitions)
        for partition in range(partitions):
            placed, orphan_items = join_items(
                (Order(o, c, Decimal(a)) for o, c, a in by_order.read(partition)),
                map(Item._make, items_by_order.read(partition)))
            summary.add(0, [], orphan_items)
            by_customer.write_all(
                ([customer_id, s.order_id, s.amount, *s.item_ids] for customer_id, s in placed),
                itemgetter(0))  # customer id
        customers_by_id = SpillFiles(spill_dir, "customers", partitions)
        customers_by_id.write_all(customers, itemgetter(0))  # customer id
        for partition in range(partitions):
            messages, orphan_orders = customer_messages(
                batch_id, revision, map(Customer._make, customers_by_id.read(partition)),
                ((row[0], OrderSummary(row[1], Decimal(row[2]), tuple(row[3:])))
                 for row in by_customer.read(partition)), folder)
            summary.add(len(messages), orphan_orders, [])
            yield from messages
