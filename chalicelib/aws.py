"""The one place that builds boto3 clients.

The endpoint comes from ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>``),
which boto3 honours by itself: the same code talks to AWS, LocalStack or the
embedded emulator without a branch.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

# Standard retry mode backs off with jitter on throttling and 5xx answers;
# the pipeline's own retries (UnprocessedItems, per-entry SQS failures) sit on top.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5},
                        connect_timeout=5, read_timeout=60)


def client(service: str, endpoint: str | None = None, region: str | None = None,
           credentials: tuple[str, str] | None = None):
    """A client for ``service``: at ``endpoint`` and in ``region`` when they are given
    (a tool that talks to a sandbox says where), else as the environment says (the
    function: AWS, or the endpoint LocalStack and the runner set).

    Clients are cached per (region, endpoint, credentials), so warm Lambda
    invocations reuse connections while a test that points elsewhere gets a new one.
    ``credentials`` (key id, secret) are for emulators, which take any: a tool
    talking to one passes dummy ones, so that real ones are never sent there.
    """
    region = (region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or "us-east-1")
    endpoint = (endpoint or os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
                or os.environ.get("AWS_ENDPOINT_URL"))
    return _build(service, region, endpoint, credentials)


# One loader of botocore's service models for every client of the process: a session
# of its own would parse the same JSON models again for each client (55 ms a client
# instead of 8; a cold start's three clients take 92 ms instead of 148). The loader
# only reads files and caches what it read, so sessions can share it.
_MODELS = botocore.loaders.create_loader()


@functools.lru_cache(maxsize=32)
def _build(service: str, region: str, endpoint: str | None, credentials: tuple[str, str] | None):
    keys = {"aws_access_key_id": credentials[0], "aws_secret_access_key": credentials[1]} \
        if credentials else {}
    core = botocore.session.get_session()
    core.register_component("data_loader", _MODELS)
    built = boto3.session.Session(botocore_session=core, **keys).client(
        service, region_name=region, endpoint_url=endpoint, config=_CLIENT_CONFIG)
    built.meta.events.register("before-call", functools.partial(_notify, service))
    built.meta.events.register("before-parameter-build", functools.partial(_notify_params, service))
    return built


# Who wants to know about each API call: the benchmark counts them, and the
# least-privilege test checks each against the IAM policy. botocore emits
# before-call once per API call (its retries are not counted again).
_listeners: list[Callable[[str, str], None]] = []


def on_api_call(listener: Callable[[str, str], None]) -> Callable[[], None]:
    """Call ``listener(service, operation)`` on every API call; return a function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def _notify(service: str, model, **_kwargs) -> None:
    for listener in list(_listeners):
        listener(service, model.name)


_param_listeners: list[Callable[[str, str, dict], None]] = []


def on_api_params(listener: Callable[[str, str, dict], None]) -> Callable[[], None]:
    """Call ``listener(service, operation, params)`` with each call's parameters (the
    benchmark counts DynamoDB write units from them); return a function that stops it."""
    _param_listeners.append(listener)
    return lambda: _param_listeners.remove(listener)


def _notify_params(service: str, params: dict, model, **_kwargs) -> None:
    for listener in list(_param_listeners):
        listener(service, model.name, params)


def clear_cache() -> None:
    """Forget cached clients (tests that start and stop emulators call this)."""
    _build.cache_clear()
