"""BASELINE ONLY: the original design's algorithm, re-implemented to measure against.

This is not part of the product and is never deployed. ``make bench`` runs it on
a tiny drop, on the same emulator as the pipeline, to compare API calls and wall
time. It does what ../shared/seed/SEED-BEHAVIOUR.md records, faults included:

* one table keyed by customer id; files must come in the order customers,
  orders, items, and the items file triggers publication;
* customers: a PutItem per row;
* orders: a GetItem and a PutItem per row (read-modify-write), amounts as float;
* items: a full-table Scan per row to find the order's customer (first page
  only: the original ignored pagination), then a PutItem;
* publication: a Scan of the whole table (first page only) and one SendMessage
  per customer.
"""
from __future__ import annotations

import csv
import io
import json


class OriginalDesignBaseline:
    def __init__(self, s3, dynamodb, sqs, table_name: str, queue_url: str) -> None:
        self._s3 = s3
        self._dynamodb = dynamodb
        self._sqs = sqs
        self._table = table_name
        self._queue_url = queue_url

    @staticmethod
    def table_definition(table_name: str) -> dict:
        return {"TableName": table_name, "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "customer_id", "AttributeType": "S"}]}

    def process(self, bucket: str, key: str) -> None:
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        rows = list(csv.reader(io.StringIO(body)))[1:]
        name = key.rsplit("/", 1)[-1]
        if name.startswith("customers_"):
            for customer_id, customer_name in rows:
                self._put({"customer_id": customer_id, "name": customer_name,
                           "total_amount_spent": 0.0, "orders": []})
        elif name.startswith("orders_"):
            for order_id, customer_id, amount in rows:
                customer = self._get(customer_id)
                if customer is None:
                    continue  # the original logged and skipped such rows
                customer["orders"].append({"id": order_id, "amount": float(amount), "item_ids": []})
                customer["total_amount_spent"] += float(amount)
                self._put(customer)
        elif name.startswith("items_"):
            for item_id, order_id in rows:
                for customer in self._scan_first_page():
                    order = next((o for o in customer["orders"] if o["id"] == order_id), None)
                    if order is not None:
                        order["item_ids"].append(item_id)
                        self._put(customer)
                        break
            for customer in self._scan_first_page():
                self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(
                    {"id": customer["customer_id"], "name": customer["name"],
                     "total_amount_spent": customer["total_amount_spent"],
                     "orders": customer["orders"]}))

    # The original stored each customer as one item with a JSON document.
    def _put(self, customer: dict) -> None:
        self._dynamodb.put_item(TableName=self._table, Item={
            "customer_id": {"S": customer["customer_id"]}, "doc": {"S": json.dumps(customer)}})

    def _get(self, customer_id: str) -> dict | None:
        item = self._dynamodb.get_item(TableName=self._table,
                                       Key={"customer_id": {"S": customer_id}}).get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def _scan_first_page(self) -> list[dict]:
        return [json.loads(item["doc"]["S"])
                for item in self._dynamodb.scan(TableName=self._table)["Items"]]
