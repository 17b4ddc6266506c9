"""The JSON wire format of customer messages.

Amounts are written as JSON numbers with their exact decimal digits (400.00),
which ``json.dumps`` cannot do for ``Decimal``; hence this small writer.
Readers should parse with ``parse_float=Decimal`` to keep them exact.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from chalicelib.model import CustomerMessage

_CENTS = Decimal("0.01")


def _number(value: Decimal) -> str:
    # Input amounts have at most two places ("250" is allowed); the wire always has two.
    return format(value.quantize(_CENTS), "f")


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def to_json(message: CustomerMessage) -> str:
    # JSON templates: with %-formatting their braces stay as they are written.
    orders = ", ".join(
        '{"id": %s, "amount": %s, "item_ids": [%s]}'  # noqa: UP031
        % (_string(o.order_id), _number(o.amount), ", ".join(_string(i) for i in o.item_ids))
        for o in message.orders)
    return ('{"id": %s, "name": %s, "total_amount_spent": %s, "orders": [%s], '  # noqa: UP031
            '"batch_id": %s, "folder": %s, "revision": %d}'
            % (_string(message.customer_id), _string(message.name),
               _number(message.total_amount_spent), orders,
               _string(message.batch_id), _string(message.folder), message.revision))


def from_json(body: str) -> dict[str, Any]:
    """Parse a message body with exact decimals."""
    return json.loads(body, parse_float=Decimal)
