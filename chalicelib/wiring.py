"""Builds the pipeline from the environment: settings, clients, queue URLs, and the seams.

The handler asks ``pipeline_from_environment()``: built once per settings,
endpoint and seams, so that warm invocations reuse it. ``Seams`` holds what is
not configuration but the world the pipeline runs in (the clock, the pauses
between retries) and the sizes that the data and DynamoDB decide: a test
passes its own with ``using(...)`` instead of patching a module's globals.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from chalicelib import aws
from chalicelib.completion import Completion
from chalicelib.config import Settings
from chalicelib.errors import missing_resource
from chalicelib.ingest import Ingest
from chalicelib.misnamed import MisnamedUploads
from chalicelib.outcome import utc_now
from chalicelib.partitioning import ROWS_PER_PARTITION
from chalicelib.payloads import S3PayloadStore
from chalicelib.pipeline import Pipeline
from chalicelib.publication import PublicationClaims
from chalicelib.publisher import SqsPublisher
from chalicelib.records import BatchRecords
from chalicelib.reports import ReportWriter
from chalicelib.row_chunks import CHUNK_RAW_BYTES
from chalicelib.row_store import BATCH_WRITE_SIZE, RowStore
from chalicelib.telemetry import Telemetry


@dataclass(frozen=True)
class Seams:
    clock: Callable[[], float] = time.time           # claims' leases and rows' expiry
    store_sleep: Callable[[float], None] = time.sleep      # before writing unprocessed items again
    publisher_sleep: Callable[[float], None] = time.sleep  # before sending failed entries again
    lease_sleep: Callable[[float], None] = time.sleep      # while an earlier attempt's lease runs
    chunk_bytes: int = CHUNK_RAW_BYTES                # rows' bytes per stored chunk
    group_size: int = BATCH_WRITE_SIZE                # chunks per BatchWriteItem
    rows_per_partition: int = ROWS_PER_PARTITION      # above which a batch is joined on disk
    lease_seconds: float | None = None                # instead of PUBLICATION_LEASE_SECONDS


_seams = Seams()


@contextlib.contextmanager
def using(**changes) -> Iterator[Seams]:
    """Let the pipelines built meanwhile (the handler's too) use the seams in force with
    ``changes``: a test's clock, recorded pauses, small chunks. Nested uses add up."""
    global _seams
    previous = _seams
    _seams = dataclasses.replace(previous, **changes)
    _build.cache_clear()
    try:
        yield _seams
    finally:
        _seams = previous
        _build.cache_clear()


def pipeline_from_environment() -> Pipeline:
    """The pipeline for the current environment, built once per settings, endpoint and seams."""
    return _build(Settings.from_env(), os.environ.get("AWS_ENDPOINT_URL"), _seams)


@functools.lru_cache(maxsize=8)
def _build(settings: Settings, endpoint: str | None, seams: Seams) -> Pipeline:
    return build_pipeline(settings, aws.client("s3"), aws.client("dynamodb"), aws.client("sqs"),
                          seams)


def build_pipeline(settings: Settings, s3, dynamodb, sqs, seams: Seams | None = None) -> Pipeline:
    """The pipeline of ``settings`` on these clients."""
    seams = seams or Seams()
    # Queue URLs differ between AWS, LocalStack and moto: ask, never build them.
    try:
        queue_url = sqs.get_queue_url(QueueName=settings.output_queue_name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist as exc:
        raise missing_resource(exc, settings.stage) or exc from exc
    telemetry = Telemetry(settings.stage, settings.log_level)
    records = BatchRecords(dynamodb, settings.table_name, clock=seams.clock)
    rows = RowStore(dynamodb, settings.table_name, shards=settings.row_shards,
                    retention_days=settings.row_retention_days, clock=seams.clock,
                    sleep=seams.store_sleep, chunk_bytes=seams.chunk_bytes,
                    group_size=seams.group_size)
    reports = ReportWriter(s3, settings.results_bucket)
    misnamed = MisnamedUploads(records, reports, utc_now)
    claims = PublicationClaims(dynamodb, settings.table_name,
                               lease_seconds=seams.lease_seconds or settings.publication_lease_seconds,
                               clock=seams.clock)
    publisher = SqsPublisher(sqs, queue_url, S3PayloadStore(s3, settings.results_bucket),
                             sleep=seams.publisher_sleep)
    return Pipeline(
        ingest=Ingest(s3, records, rows, reports, misnamed, telemetry, settings.max_file_bytes,
                      utc_now),
        completion=Completion(records, rows, claims, publisher, reports, misnamed, telemetry,
                              utc_now, sleep=seams.lease_sleep,
                              rows_per_partition=seams.rows_per_partition),
        misnamed=misnamed, rows=rows, telemetry=telemetry)


def records_and_reports(settings: Settings, s3=None, dynamodb=None,
                        clock: Callable[[], float] = time.time) -> tuple[BatchRecords, ReportWriter]:
    """What reading a batch's status needs (no queue involved); clients as the environment
    says unless given."""
    return (BatchRecords(dynamodb or aws.client("dynamodb"), settings.table_name, clock=clock),
            ReportWriter(s3 or aws.client("s3"), settings.results_bucket))


def clear_cache() -> None:
    _build.cache_clear()
    aws.clear_cache()
