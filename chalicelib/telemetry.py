"""Structured logs, metrics and traces, with AWS Lambda Powertools.

Powertools is the field's standard for this in Python Lambda functions: JSON
logs with keys appended per invocation, CloudWatch Embedded Metric Format (EMF)
metrics printed to stdout (no API call, no latency), and X-Ray tracing that
switches itself off outside Lambda. It works with Chalice because it needs
nothing from the handler's signature: keys, metrics and flushes are explicit.
"""
from __future__ import annotations

import io
import sys
from typing import IO, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chalicelib.outcome import OutcomeStatus

SERVICE = "order-pipeline"
NAMESPACE = "OrderPipeline"


class _CurrentStdout(io.TextIOBase):
    """Writes to whatever sys.stdout is now: Lambda's stdout, or a test's capture."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


# A text stream all the same: Powertools only writes and flushes it.
logger = Logger(service=SERVICE, stream=cast(IO[str], _CurrentStdout()))
tracer = Tracer(service=SERVICE)


class Telemetry:
    """What the pipeline reports about each file and each publication."""

    def __init__(self, stage: str, log_level: str = "INFO") -> None:
        self.stage = stage
        self.logger = logger
        self.logger.setLevel(log_level)
        self._metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

    def start(self, key: str, invocation_id: str = "") -> None:
        """Begin an invocation: every log line from here on carries these keys."""
        self.logger.remove_keys(["batch_id", "folder", "file_kind", "etag"])
        self.logger.append_keys(object_key=key, invocation_id=invocation_id, stage=self.stage)

    def file_identified(self, batch_id: str, kind: str, etag: str, folder: str = "") -> None:
        self.logger.append_keys(batch_id=batch_id, folder=folder, file_kind=kind, etag=etag)

    def file_done(self, status: OutcomeStatus, kind: str, rows_read: int, rows_rejected: int,
                  writes: int, duration_ms: float, problem_count: int = 0,
                  report_key: str = "", detail: str = "", write_units: int = 0) -> None:
        # writes: chunk items put; write_units: what DynamoDB bills for them.
        fields = {"outcome": status, "rows_read": rows_read, "rows_rejected": rows_rejected,
                  "writes": writes, "write_units": write_units, "duration_ms": round(duration_ms, 1)}
        if status == OutcomeStatus.REJECTED:
            fields.update(problem_count=problem_count, report_key=report_key)
            self.logger.warning(f"file rejected: {detail}", extra=fields)
        elif status == OutcomeStatus.SUPERSEDED:
            self.logger.info(f"file superseded: {detail}", extra=fields)
        else:
            self.logger.info(f"file {status}", extra=fields)
        self._metrics.add_dimension(name="stage", value=self.stage)
        self._metrics.add_dimension(name="file_kind", value=kind or "unknown")
        self._metrics.add_metric(name="RowsProcessed", unit=MetricUnit.Count, value=rows_read)
        self._metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=rows_rejected)
        self._metrics.add_metric(name="FilesRejected", unit=MetricUnit.Count,
                                 value=1 if status == OutcomeStatus.REJECTED else 0)
        self._metrics.add_metric(name="ProcessingDuration", unit=MetricUnit.Milliseconds,
                                 value=duration_ms)
        self._metrics.flush_metrics()

    def batch_published(self, batch_id: str, revision: int, messages: int, orphan_orders: int,
                        orphan_items: int, duration_ms: float) -> None:
        self.logger.info("batch published", extra={
            "revision": revision, "messages": messages, "orphan_orders": orphan_orders,
            "orphan_items": orphan_items, "duration_ms": round(duration_ms, 1)})
        # Per batch, not per file: a metric set of its own without the file_kind dimension.
        for name, value in (("BatchesPublished", 1), ("MessagesPublished", messages),
                            ("OrphanOrders", orphan_orders), ("OrphanItems", orphan_items)):
            with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE,
                               default_dimensions={"stage": self.stage, "service": SERVICE}):
                pass
