"""JSON reports a person reads: why a file was rejected, what a batch left out.

Reports live in the ingest bucket under ``reports/``, beside the files they
describe; their ``.json`` suffix keeps them from triggering the ``.csv`` handler.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.aggregation import BatchSummary
from chalicelib.errors import RejectedInputError

REPORT_PREFIX = "reports/"
UNKNOWN_BATCH = "_unknown"


def rejection_report_key(batch_id: str | None, file_name: str) -> str:
    return f"{REPORT_PREFIX}{batch_id or UNKNOWN_BATCH}/{file_name}.json"


def batch_report_key(batch_id: str) -> str:
    return f"{REPORT_PREFIX}{batch_id}/batch.json"


class ReportWriter:
    def __init__(self, client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def write_rejection(self, report_key: str, object_key: str, etag: str,
                        error: RejectedInputError, checked_at: str) -> None:
        self._put(report_key, {
            "object_key": object_key,
            "etag": etag,
            "status": "rejected",
            "checked_at": checked_at,
            "message": str(error),
            "what_to_do": error.hint,
            "problem_count": error.problem_count,
            "problems_listed": len(error.problems),
            "problems": [{"line": p.line, "column": p.column, "value": p.value, "reason": p.reason}
                         for p in error.problems],
        })

    def write_batch_report(self, batch_id: str, revision: int, summary: BatchSummary,
                           published_at: str) -> None:
        self._put(batch_report_key(batch_id), {
            "batch_id": batch_id,
            "revision": revision,
            "published_at": published_at,
            "customers": summary.customers,
            "orphan_order_count": summary.orphan_order_count,
            "orphan_orders": [
                {"order_id": o.order_id, "customer_id": o.customer_id,
                 "reason": "the customer is not in the customers file"}
                for o in summary.orphan_orders],
            "orphan_item_count": summary.orphan_item_count,
            "orphan_items": [
                {"item_id": i.item_id, "order_id": i.order_id,
                 "reason": "the order is not in the orders file"}
                for i in summary.orphan_items],
        })

    def read(self, key: str) -> dict[str, Any] | None:
        """A report, or None when there is none."""
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._client.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    def delete(self, key: str) -> None:
        if key:
            self._client.delete_object(Bucket=self._bucket, Key=key)

    def _put(self, key: str, document: dict[str, Any]) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key,
                                Body=json.dumps(document, indent=2).encode("utf-8"),
                                ContentType="application/json")
