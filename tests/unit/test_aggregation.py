"""aggregation: customers, orders and items joined into one message per customer, exactly."""
from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.aggregation import aggregate_batch, natural_key
from chalicelib.model import Customer, CustomerMessage, Item, Order, OrderSummary

SAMPLE_CUSTOMERS = [Customer("1", "John Doe"), Customer("2", "Jane Smith"), Customer("3", "Alice Johnson")]
SAMPLE_ORDERS = [Order("1001", "1", Decimal("250.00")), Order("1002", "1", Decimal("150.00")),
                 Order("1003", "2", Decimal("300.00")), Order("1004", "3", Decimal("120.00")),
                 Order("1005", "3", Decimal("80.00"))]
SAMPLE_ITEMS = [Item("501", "1001"), Item("502", "1001"), Item("503", "1002"), Item("504", "1003"),
                Item("505", "1004"), Item("506", "1005")]


def test_the_sample_batch_gives_the_seed_totals():
    result = aggregate_batch("20230828", 1, SAMPLE_CUSTOMERS, SAMPLE_ORDERS, SAMPLE_ITEMS)

    assert result.messages == [
        CustomerMessage("20230828", 1, "1", "John Doe", Decimal("400.00"), (
            OrderSummary("1001", Decimal("250.00"), ("501", "502")),
            OrderSummary("1002", Decimal("150.00"), ("503",)))),
        CustomerMessage("20230828", 1, "2", "Jane Smith", Decimal("300.00"), (
            OrderSummary("1003", Decimal("300.00"), ("504",)),)),
        CustomerMessage("20230828", 1, "3", "Alice Johnson", Decimal("200.00"), (
            OrderSummary("1004", Decimal("120.00"), ("505",)),
            OrderSummary("1005", Decimal("80.00"), ("506",)))),
    ]
    assert [str(m.total_amount_spent) for m in result.messages] == ["400.00", "300.00", "200.00"]
    assert (result.orphan_orders, result.orphan_items) == ([], [])


def test_input_order_does_not_change_the_result():
    forward = aggregate_batch("b", 1, SAMPLE_CUSTOMERS, SAMPLE_ORDERS, SAMPLE_ITEMS)
    backward = aggregate_batch("b", 1, SAMPLE_CUSTOMERS[::-1], SAMPLE_ORDERS[::-1], SAMPLE_ITEMS[::-1])

    assert backward == forward


def test_many_small_amounts_sum_exactly():
    # 0.10 has no exact float: a float sum of 1000 of them is 99.9999999999986.
    orders = [Order(str(n), "1", Decimal("0.10")) for n in range(1000)]

    [message] = aggregate_batch("b", 1, [Customer("1", "A")], orders, []).messages

    assert str(message.total_amount_spent) == "100.00"


def test_totals_keep_cents_across_mixed_precision_amounts():
    orders = [Order("1", "1", Decimal("0.01")), Order("2", "1", Decimal("999999999999999.99")),
              Order("3", "1", Decimal("5"))]

    [message] = aggregate_batch("b", 1, [Customer("1", "A")], orders, []).messages

    assert str(message.total_amount_spent) == "1000000000000005.00"


def test_a_customer_without_orders_has_total_0_00_and_no_orders():
    [message] = aggregate_batch("b", 3, [Customer("7", "Nobody")], [], []).messages

    assert message == CustomerMessage("b", 3, "7", "Nobody", Decimal("0.00"), ())
    assert str(message.total_amount_spent) == "0.00"


def test_an_order_without_items_has_an_empty_item_list():
    [message] = aggregate_batch("b", 1, [Customer("1", "A")], [Order("9", "1", Decimal("1.00"))], []).messages

    assert message.orders == (OrderSummary("9", Decimal("1.00"), ()),)


@pytest.mark.parametrize("ids, expected", [
    (["10", "9", "2", "1"], ["1", "2", "9", "10"]),
    (["b", "10", "a", "2"], ["2", "10", "a", "b"]),  # numbers first, then text
    (["A-10", "A-9", "A-1"], ["A-1", "A-10", "A-9"]),  # text ids sort as text
    (["01", "1", "001"], ["001", "01", "1"]),  # equal numbers: text decides, so the order is stable
    (["100000000000000000000", "99"], ["99", "100000000000000000000"]),
])
def test_customers_orders_and_items_are_in_natural_id_order(ids, expected):
    customers = [Customer(i, f"name {i}") for i in ids]
    orders = [Order(i, ids[0], Decimal("1.00")) for i in ids]
    items = [Item(i, ids[0]) for i in ids]

    result = aggregate_batch("b", 1, customers, orders, items)

    assert [m.customer_id for m in result.messages] == expected
    [with_orders] = [m for m in result.messages if m.orders]
    assert [o.order_id for o in with_orders.orders] == expected
    [with_items] = [o for o in with_orders.orders if o.item_ids]
    assert list(with_items.item_ids) == expected


@pytest.mark.parametrize("odd_id", ["1\u00b2", "\u2460"])  # '1²' and '①' pass validation as ids
def test_ids_with_digit_like_characters_do_not_break_sorting(odd_id):
    customers = [Customer(odd_id, "Odd"), Customer("2", "Two")]

    result = aggregate_batch("b", 1, customers, [], [])

    # Where such an id sorts is secondary; that the batch aggregates at all is the point.
    assert sorted(m.customer_id for m in result.messages) == sorted([odd_id, "2"])


def test_natural_key_sorts_numbers_numerically_before_text():
    assert sorted(["x", "10", "2", "a10", "a2"], key=natural_key) == ["2", "10", "a10", "a2", "x"]


def test_orders_without_their_customer_are_orphans_in_id_order():
    orders = [*SAMPLE_ORDERS, Order("20", "99", Decimal("5.00")), Order("3", "42", Decimal("1.00"))]

    result = aggregate_batch("b", 1, SAMPLE_CUSTOMERS, orders, SAMPLE_ITEMS)

    assert result.orphan_orders == [Order("3", "42", Decimal("1.00")), Order("20", "99", Decimal("5.00"))]
    # Orphans are in no message and in no total.
    assert [str(m.total_amount_spent) for m in result.messages] == ["400.00", "300.00", "200.00"]


def test_items_without_their_order_are_orphans_in_id_order():
    items = [*SAMPLE_ITEMS, Item("900", "7777"), Item("80", "8888")]

    result = aggregate_batch("b", 1, SAMPLE_CUSTOMERS, SAMPLE_ORDERS, items)

    assert result.orphan_items == [Item("80", "8888"), Item("900", "7777")]
    assert sorted(i for m in result.messages for o in m.orders for i in o.item_ids) == \
        ["501", "502", "503", "504", "505", "506"]


def test_items_of_an_orphan_order_are_not_orphans_themselves():
    # Their order is in the file; it is the order that lacks a customer.
    orders = [Order("1", "missing", Decimal("1.00"))]
    items = [Item("10", "1"), Item("11", "1")]

    result = aggregate_batch("b", 1, [Customer("c", "C")], orders, items)

    assert result.orphan_orders == orders
    assert result.orphan_items == []
    assert result.messages == [CustomerMessage("b", 1, "c", "C", Decimal("0.00"), ())]


def test_accepts_one_pass_iterators():
    # The store streams rows from DynamoDB: each input can be read only once.
    result = aggregate_batch("b", 1, iter(SAMPLE_CUSTOMERS), iter(SAMPLE_ORDERS), iter(SAMPLE_ITEMS))

    assert [str(m.total_amount_spent) for m in result.messages] == ["400.00", "300.00", "200.00"]
