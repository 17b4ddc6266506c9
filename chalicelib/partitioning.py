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
whatever the batch's size. Disk holds the batch about twice over, in CSV (the
L drop of 4.1 million rows takes about 200 MB of Lambda's default 512 MB of
``/tmp``). Messages come out in natural order of customer id within a
partition; across partitions the order follows the hash, which no consumer of
a standard queue could rely on anyway.
"""
from __future__ import annotations

import csv
import os
import tempfile
from decimal import Decimal
from operator import itemgetter
from typing import Callable, Iterable, Iterator

from chalicelib.aggregation import BatchSummary, aggregate_batch, customer_messages, join_items
from chalicelib.model import Customer, CustomerMessage, Item, Order, OrderSummary

ROWS_PER_PARTITION = 500_000


def partition_count(rows: int) -> int:
    """How many partitions a batch of ``rows`` rows (all three files) is joined in."""
    return max(1, -(-rows // ROWS_PER_PARTITION))


def batch_messages(batch_id: str, revision: int, customers: Iterable[Customer],
                   orders: Iterable[Order], items: Iterable[Item], partitions: int,
                   summary: BatchSummary, directory: str | None = None) -> Iterator[CustomerMessage]:
    """Every customer's message; ``summary`` is filled in as they are made.

    The rows are read once each, in the order customers, orders, items for a
    batch in memory, and orders, items, customers when partitioned.
    """
    if partitions <= 1:
        aggregate = aggregate_batch(batch_id, revision, customers, orders, items)
        summary.add(len(aggregate.messages), aggregate.orphan_orders, aggregate.orphan_items)
        yield from aggregate.messages
        return
    with tempfile.TemporaryDirectory(prefix=f"batch-{batch_id}-", dir=directory) as folder:
        by_order = _SpillFiles(folder, "orders", partitions)
        by_order.write_all(orders, itemgetter(0))  # order id
        items_by_order = _SpillFiles(folder, "items", partitions)
        items_by_order.write_all(items, itemgetter(1))  # order id
        by_customer = _SpillFiles(folder, "placed", partitions)
        for partition in range(partitions):
            placed, orphan_items = join_items(
                (Order(o, c, Decimal(a)) for o, c, a in by_order.read(partition)),
                map(Item._make, items_by_order.read(partition)))
            summary.add(0, [], orphan_items)
            by_customer.write_all(
                ([customer_id, s.order_id, s.amount, *s.item_ids] for customer_id, s in placed),
                itemgetter(0))  # customer id
        customers_by_id = _SpillFiles(folder, "customers", partitions)
        customers_by_id.write_all(customers, itemgetter(0))  # customer id
        for partition in range(partitions):
            messages, orphan_orders = customer_messages(
                batch_id, revision, map(Customer._make, customers_by_id.read(partition)),
                ((row[0], OrderSummary(row[1], Decimal(row[2]), tuple(row[3:])))
                 for row in by_customer.read(partition)))
            summary.add(len(messages), orphan_orders, [])
            yield from messages


class _SpillFiles:
    """One CSV file per partition: every row is written once, then each file is read once."""

    def __init__(self, folder: str, name: str, partitions: int) -> None:
        self._paths = [os.path.join(folder, f"{name}-{n}.csv") for n in range(partitions)]

    def write_all(self, rows: Iterable, key: Callable[[object], str]) -> None:
        """Append ``rows``, each to the partition its key hashes to."""
        # hash() of a str is salted per process, which is all a partition needs:
        # files are written and read by the same invocation.
        files = [open(path, "a", newline="", encoding="utf-8") for path in self._paths]
        try:
            writers = [csv.writer(f).writerow for f in files]
            count = len(writers)
            for row in rows:
                writers[hash(key(row)) % count](row)
        finally:
            for f in files:
                f.close()

    def read(self, partition: int) -> Iterator[list[str]]:
        path = self._paths[partition]
        try:
            with open(path, newline="", encoding="utf-8") as f:
                yield from csv.reader(f)
        finally:
            os.remove(path)  # read once: give the disk back as we go
