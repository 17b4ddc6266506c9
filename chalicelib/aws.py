"""The one place that builds boto3 clients.

The endpoint comes from ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>``),
which boto3 honours by itself: the same code talks to AWS, LocalStack or the
embedded emulator without a branch.
"""
from __future__ import annotations

import functools
import os

import boto3
from botocore.config import Config

# Standard retry mode backs off with jitter on throttling and 5xx answers;
# the pipeline's own retries (UnprocessedItems, per-entry SQS failures) sit on top.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5},
                        connect_timeout=5, read_timeout=60)


def client(service: str):
    """A client for ``service`` configured from the current environment.

    Clients are cached per (region, endpoint), so warm Lambda invocations reuse
    connections while a test that points the environment elsewhere gets a new one.
    """
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = (os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
                or os.environ.get("AWS_ENDPOINT_URL"))
    return _build(service, region, endpoint)


@functools.lru_cache(maxsize=32)
def _build(service: str, region: str, endpoint: str | None):
    # endpoint is only part of the cache key: boto3 reads it from the environment itself.
    return boto3.session.Session().client(service, region_name=region, config=_CLIENT_CONFIG)


def clear_cache() -> None:
    """Forget cached clients (tests that start and stop emulators call this)."""
    _build.cache_clear()
