"""DynamoDB's size of an item, and the write units it costs.

DynamoDB bills a write (put, update or delete) in units of 1 KB of the item,
rounded up per item: a 20-byte item costs as much as a 1 KB one. An item's size
is the sum of its attribute names and values (developer guide, "Item sizes and
formats"). Used by the store to count what it writes, and by ``make bench`` to
count, from the requests themselves, what a drop costs (moto answers
``ReturnConsumedCapacity`` with a constant, so it cannot be asked).
"""
from __future__ import annotations

from decimal import Decimal

WRITE_UNIT_BYTES = 1024
MAX_ITEM_BYTES = 400 * 1024


def item_size(item: dict) -> int:
    """Bytes of an item in the low-level form ``{"name": {"S": "value"}, ...}``."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def value_size(value: dict) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "B":
        return len(data)
    if kind == "N":
        return _number_size(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(element.encode("utf-8")) for element in data)
    if kind == "NS":
        return sum(_number_size(element) for element in data)
    if kind == "BS":
        return sum(len(element) for element in data)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + value_size(element)
                       for name, element in data.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def _number_size(text: str) -> int:
    # "approximately (length of attribute value / 2) + 1 bytes", counting the
    # significant digits: leading and trailing zeros are not stored.
    digits = Decimal(text).normalize().as_tuple().digits
    return (len(digits) + 1) // 2 + 1


def write_units(size: int) -> int:
    """Write units of one item of ``size`` bytes: at least one, then one per started KB."""
    return max(1, -(-size // WRITE_UNIT_BYTES))
