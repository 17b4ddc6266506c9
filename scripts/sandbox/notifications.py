"""The app's S3 handlers and the notifications that reach them.

Which handlers S3 would invoke for a notification record, read from the
Chalice app object (bucket, events, prefix, suffix), which events the bucket
must send, the queue the sandbox sends them to, and the request id of each
invocation. The sandbox's set-up (``lifecycle``), its status and the runner
all ask here, so that they agree; nothing here talks to AWS.
"""
from __future__ import annotations

import fnmatch
import uuid
from urllib.parse import unquote_plus

from chalice.app import S3EventConfig

from chalicelib.config import Settings
from scripts.sandbox.function_config import project_dir

# Request ids of one event's invocations: the same for all its attempts, as Lambda's.
_REQUEST_IDS = uuid.UUID("6f1d3f8e-5a4b-4c1e-9d59-4ab1e2c0a7d3")


def load_app(stage: str):
    """The Chalice app of the project the runner serves (RUNNER_PROJECT_DIR, else this one)."""
    from scripts.sandbox.worker import load_app as load
    return load(stage, str(project_dir()))


def events_queue_name(settings: Settings) -> str:
    """The queue the ingest bucket notifies for the local runner (Lambda's own event queue)."""
    return f"{settings.ingest_bucket}-events"


def matching_handlers(app, record: dict) -> list[str]:
    """Names of the app's S3 handlers that S3 would invoke for ``record``."""
    s3 = record["s3"]
    bucket = s3["bucket"]["name"]
    key = unquote_plus(s3["object"]["key"])
    event_name = "s3:" + record["eventName"]
    return [source.name for source in app.event_sources
            if isinstance(source, S3EventConfig)
            and source.bucket == bucket
            and any(fnmatch.fnmatchcase(event_name, pattern) for pattern in source.events)
            and key.startswith(source.prefix or "")
            and key.endswith(source.suffix or "")]


def s3_events_of(app, bucket: str) -> list[str]:
    """The S3 event types the app's handlers on ``bucket`` listen to."""
    return sorted({event for source in app.event_sources
                   if isinstance(source, S3EventConfig) and source.bucket == bucket
                   for event in source.events})


def s3_handler_names(app) -> list[str]:
    """The app's S3 handlers; ``-`` stands for none, so that a runner still has a function to size."""
    return [source.name for source in app.event_sources if isinstance(source, S3EventConfig)] or ["-"]


def request_id_for(message_id: str, record: int, handler: str) -> str:
    """The request id of one record's invocation of ``handler``: the same for every attempt."""
    return str(uuid.uuid5(_REQUEST_IDS, f"{message_id}/{record}/{handler}"))
