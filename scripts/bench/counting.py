"""What a run costs in AWS terms: its API calls per operation, and its DynamoDB write units.

Both are counted from the requests botocore is about to send (the hooks of
``chalicelib.aws``), never from the answers: moto answers
``ReturnConsumedCapacity`` with a constant. Write units follow DynamoDB's rule
(``chalicelib.item_sizes``: ceil(item bytes / 1 KB) per item put, updated or
deleted).
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping

from chalicelib.item_sizes import item_size, write_units


class ApiCalls:
    """API calls made, as ``service.Operation``: a listener for ``aws.on_api_call``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # the store and the publisher call from several threads

    def __call__(self, service: str, operation: str) -> None:
        with self._lock:
            self.counts[f"{service}.{operation}"] += 1


def key_attributes(dynamodb, table: str) -> tuple[str, ...]:
    """The names of the table's key attributes, as DynamoDB describes the table."""
    return tuple(element["AttributeName"]
                 for element in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"])


class WriteUnits:
    """DynamoDB write units of the calls made, from their parameters (DynamoDB's rule).

    A put costs its item's size; a delete the size of the item deleted (known
    here when this process put it, else counted as one unit); an update the
    size of the item it leaves, counted from what the update sets (a lower
    bound: the items updated here are under 1 KB, so one unit each).

    ``keys`` names each table's key attributes, which tell which put a delete
    undoes; a table not named there gets one unit a delete, DynamoDB's minimum.
    """

    def __init__(self, keys: Mapping[str, tuple[str, ...]]) -> None:
        self.units = 0
        self._keys = dict(keys)
        self._sizes: dict[tuple, int] = {}
        self._lock = threading.Lock()  # the store writes from several threads

    def __call__(self, service: str, operation: str, params: dict) -> None:
        if service != "dynamodb":
            return
        with self._lock:
            if operation == "BatchWriteItem":
                for table, requests in params["RequestItems"].items():
                    for request in requests:
                        if "PutRequest" in request:
                            self._put(table, request["PutRequest"]["Item"])
                        else:
                            self._delete(table, request["DeleteRequest"]["Key"])
            elif operation == "PutItem":
                self._put(params["TableName"], params["Item"])
            elif operation == "DeleteItem":
                self._delete(params["TableName"], params["Key"])
            elif operation == "UpdateItem":
                values = params.get("ExpressionAttributeValues", {}).values()
                self.units += write_units(item_size(params["Key"]) + sum(item_size({"v": v}) for v in values))

    def _put(self, table: str, item: dict) -> None:
        size = item_size(item)
        key = self._key_of(table, item)
        if key is not None:
            self._sizes[key] = size
        self.units += write_units(size)

    def _delete(self, table: str, key: dict) -> None:
        known = self._key_of(table, key)
        self.units += write_units(self._sizes.pop(known, 0) if known is not None else 0)

    def _key_of(self, table: str, item: dict) -> tuple | None:
        names = self._keys.get(table)
        return None if names is None else (table, *(str(item.get(name)) for name in names))
