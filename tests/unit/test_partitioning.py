"""partitioning: a batch joined a partition at a time gives the messages of the whole join."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest

from chalicelib.aggregation import BatchSummary, aggregate_batch
from chalicelib.model import Customer, Item, Order
from chalicelib.partitioning import batch_messages, partition_count


def random_batch(seed: int, customers: int = 60, orders: int = 300, items: int = 900):
    """Ids of mixed forms, orphans of both kinds, and names with commas, quotes and newlines."""
    rng = random.Random(seed)
    names = ["Ann", "Bo, Jr.", 'Cy "the" Fox', "Dee\nSecond line", "Éa ①"]
    customer_rows = [Customer(str(n) if n % 3 else f"c{n}", f"{rng.choice(names)} {n}")
                     for n in range(customers)]
    ids = [c.customer_id for c in customer_rows] + ["ghost-1", "ghost-2"]
    order_rows = [Order(f"{n}" if n % 2 else f"o-{n}", rng.choice(ids),
                        Decimal(rng.randrange(0, 100_000)) / 100) for n in range(orders)]
    order_ids = [o.order_id for o in order_rows] + ["missing-order"]
    item_rows = [Item(f"i{n}" if n % 4 else str(n), rng.choice(order_ids)) for n in range(items)]
    return customer_rows, order_rows, item_rows


def collect(partitions: int, batch, tmp_path=None):
    summary = BatchSummary()
    messages = list(batch_messages("b", 2, *batch, partitions=partitions, summary=summary,
                                   directory=str(tmp_path) if tmp_path else None))
    return messages, summary


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("partitions", [2, 3, 7])
def test_partitions_give_the_messages_and_orphans_of_the_whole_join(seed, partitions, tmp_path):
    batch = random_batch(seed)
    whole = aggregate_batch("b", 2, *batch)

    messages, summary = collect(partitions, batch, tmp_path)

    by_customer = {m.customer_id: m for m in messages}
    assert len(by_customer) == len(messages)
    assert by_customer == {m.customer_id: m for m in whole.messages}  # every field, amounts as Decimal
    assert len(messages) == len(whole.messages) == summary.customers
    assert summary.orphan_orders == whole.orphan_orders and summary.orphan_items == whole.orphan_items
    assert (summary.orphan_order_count, summary.orphan_item_count) == (
        len(whole.orphan_orders), len(whole.orphan_items))
    assert list(tmp_path.iterdir()) == []  # the spill files are gone


def test_one_partition_keeps_natural_order_and_writes_no_files(tmp_path):
    batch = random_batch(9)

    messages, _ = collect(1, batch, tmp_path)

    assert messages == aggregate_batch("b", 2, *batch).messages
    assert list(tmp_path.iterdir()) == []


def test_messages_come_out_partition_by_partition_before_all_are_made(tmp_path):
    batch = random_batch(5)
    summary = BatchSummary()
    messages = batch_messages("b", 2, *batch, partitions=4, summary=summary, directory=str(tmp_path))

    first = next(messages)

    assert 0 < summary.customers < len(batch[0])  # one partition's customers, not the batch's
    assert first.customer_id in {c.customer_id for c in batch[0]}
    messages.close()  # a consumer that stops early (a failed send) leaves no files behind
    assert list(tmp_path.iterdir()) == []


def test_the_report_keeps_the_first_orphans_by_natural_order():
    orders = [Order(str(n), "nobody", Decimal("1.00")) for n in range(30, 0, -1)]
    summary = BatchSummary(limit=5)

    list(batch_messages("b", 1, [Customer("1", "A")], orders, [], partitions=3, summary=summary))

    assert [o.order_id for o in summary.orphan_orders] == ["1", "2", "3", "4", "5"]
    assert summary.orphan_order_count == 30


def test_partition_count_follows_the_rows():
    assert [partition_count(rows, rows_per_partition=100)
            for rows in (0, 1, 100, 101, 1000)] == [1, 1, 1, 2, 10]
