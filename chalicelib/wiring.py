"""Builds the pipeline from the environment: settings, clients, queue URLs."""
from __future__ import annotations

import functools
import os

from chalicelib import aws
from chalicelib.config import Settings
from chalicelib.errors import missing_resource
from chalicelib.payloads import S3PayloadStore
from chalicelib.pipeline import Pipeline
from chalicelib.publication import PublicationClaims
from chalicelib.publisher import SqsPublisher
from chalicelib.reports import ReportWriter
from chalicelib.store import BatchStore
from chalicelib.telemetry import Telemetry


def pipeline_from_environment() -> Pipeline:
    """The pipeline for the current environment, built once per settings and endpoint."""
    return _build(Settings.from_env(), os.environ.get("AWS_ENDPOINT_URL"))


@functools.lru_cache(maxsize=8)
def _build(settings: Settings, endpoint: str | None) -> Pipeline:
    sqs = aws.client("sqs")
    # Queue URLs differ between AWS, LocalStack and moto: ask, never build them.
    try:
        queue_url = sqs.get_queue_url(QueueName=settings.output_queue_name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist as exc:
        raise missing_resource(exc, settings.stage) or exc from exc
    s3 = aws.client("s3")
    return Pipeline(
        s3=s3,
        store=store_for(settings),
        publisher=SqsPublisher(sqs, queue_url, S3PayloadStore(s3, settings.results_bucket)),
        reports=ReportWriter(s3, settings.results_bucket),
        max_file_bytes=settings.max_file_bytes,
        telemetry=Telemetry(settings.stage, settings.log_level),
        claims=PublicationClaims(aws.client("dynamodb"), settings.table_name,
                                 lease_seconds=settings.publication_lease_seconds),
    )


def store_and_reports(settings: Settings) -> tuple[BatchStore, ReportWriter]:
    """What reading a batch's status needs (no queue involved)."""
    return store_for(settings), ReportWriter(aws.client("s3"), settings.results_bucket)


def store_for(settings: Settings) -> BatchStore:
    return BatchStore(aws.client("dynamodb"), settings.table_name, shards=settings.row_shards,
                      retention_days=settings.row_retention_days)


def clear_cache() -> None:
    _build.cache_clear()
    aws.clear_cache()
