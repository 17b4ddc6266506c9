"""JSON reports a person reads: why a file was rejected, what a batch left out.

Reports live in the results bucket, never in the ingest bucket: every object
created there invokes the handler, which must only ever see partners' uploads.

``reports/<folder>/<batch>/<file name>.json``  a rejected or misnamed file of the batch
``reports/<folder>/<batch>/batch.json``        the batch's publication: orphans, warnings
``unknown-names/<object key>.json``            a name from which no batch id can be read

(``<folder>/`` is left out at the top of the bucket.) A batch key holds no
empty folder name and a batch id no '/', so no two of these ever share a key.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.aggregation import BatchSummary
from chalicelib.errors import RejectedInputError
from chalicelib.keys import BatchRef, within_key_limit

REPORT_PREFIX = "reports/"
UNKNOWN_NAMES_PREFIX = "unknown-names/"


def rejection_report_key(batch_key: str, file_name: str) -> str:
    return within_key_limit(f"{REPORT_PREFIX}{batch_key}/{file_name}", ".json")


def unknown_name_report_key(object_key: str) -> str:
    return within_key_limit(f"{UNKNOWN_NAMES_PREFIX}{object_key}", ".json")


def batch_report_key(batch_key: str) -> str:
    return within_key_limit(f"{REPORT_PREFIX}{batch_key}/batch", ".json")


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

    def write_batch_report(self, batch: BatchRef, revision: int, summary: BatchSummary,
                           published_at: str, warnings: list[str]) -> None:
        self._put(batch_report_key(batch.key), {
            "batch_id": batch.batch_id,
            "folder": batch.folder,
            "revision": revision,
            "published_at": published_at,
            "customers": summary.customers,
            "warnings": warnings,
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
