"""The local event runner: S3 -> Lambda where no real Lambda can run.

The sandbox sends the ingest bucket's notifications to an internal SQS queue.
The runner reads them, matches each record against the S3 handlers the Chalice
app registered (bucket, events, prefix, suffix, read from the app object), and
invokes the handler through Chalice's own Lambda wrapper
(``chalice.test.Client``), which also sets the stage's environment variables.
A failed invocation is retried like Lambda's asynchronous retries; when the
attempts are spent, the event goes to the dead-letter queue in the shape of a
Lambda on-failure destination record, with the error.

``chalice local`` serves HTTP routes only; this is its counterpart for S3 events.
Run in the foreground (``make local-run``) it lets ``breakpoint()`` work.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import signal
import sys
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import unquote_plus

from chalice.app import S3EventConfig

from chalicelib import aws
from chalicelib.config import PROJECT_DIR, Settings

logger = logging.getLogger("event_runner")


def events_queue_name(settings: Settings) -> str:
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


@dataclass
class Invocation:
    handler: str
    key: str
    ok: bool
    attempts: int
    duration_ms: float
    result: dict | None = None
    error: str = ""


class EventRunner:
    def __init__(self, app, sqs, events_queue_url: str, dead_letter_queue_url: str,
                 stage: str = "local", max_attempts: int = 3, retry_delay: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        from chalice.test import Client  # Chalice's own wrapper: stage env vars, context
        self._app = app
        self._client = Client(app, stage_name=stage, project_dir=str(PROJECT_DIR))
        self._sqs = sqs
        self._events_queue_url = events_queue_url
        self._dlq_url = dead_letter_queue_url
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._sleep = sleep
        self.stopping = False

    def poll_once(self, wait_seconds: int = 1) -> list[Invocation]:
        response = self._sqs.receive_message(QueueUrl=self._events_queue_url,
                                             MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        invocations = []
        for message in response.get("Messages", []):
            invocations.extend(self.handle_message(message["Body"]))
            # Deleted only once every record is handled or dead-lettered: a runner
            # that dies mid-way leaves the event to be delivered again.
            self._sqs.delete_message(QueueUrl=self._events_queue_url,
                                     ReceiptHandle=message["ReceiptHandle"])
        return invocations

    def handle_message(self, body: str) -> list[Invocation]:
        notification = json.loads(body)
        if notification.get("Event") == "s3:TestEvent":
            return []  # S3 sends one when the notification is configured
        invocations = []
        for record in notification.get("Records", []):
            key = unquote_plus(record["s3"]["object"]["key"])
            handlers = matching_handlers(self._app, record)
            if not handlers:
                logger.info("%s: skipped, no handler matches %s", key, record["eventName"])
            for handler in handlers:
                invocations.append(self.invoke(handler, {"Records": [record]}, key))
        return invocations

    def invoke(self, handler: str, event: dict, key: str) -> Invocation:
        started = time.monotonic()
        error = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                result = self._client.lambda_.invoke(handler, event).payload
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, as Lambda does
                error = f"{type(exc).__name__}: {exc}"
                # ``attempt`` lets a reader of these records (`make replay`) keep one line per event.
                logger.error("%s -> %s: attempt %d/%d failed: %s\n%s", key, handler, attempt,
                             self._max_attempts, error, traceback.format_exc().rstrip(),
                             extra={"attempt": attempt})
                if attempt < self._max_attempts:
                    self._sleep(self._retry_delay * attempt)
                continue
            invocation = Invocation(handler, key, True, attempt,
                                    (time.monotonic() - started) * 1000, result=result)
            logger.info("%s -> %s: %s in %.0f ms", key, handler, _summary(result), invocation.duration_ms)
            return invocation
        invocation = Invocation(handler, key, False, self._max_attempts,
                                (time.monotonic() - started) * 1000, error=error)
        self._dead_letter(handler, event, invocation)
        logger.error("%s -> %s: FAILED after %d attempts, sent to the dead-letter queue: %s",
                     key, handler, self._max_attempts, error)
        return invocation

    def _dead_letter(self, handler: str, event: dict, invocation: Invocation) -> None:
        # The shape of an AWS Lambda on-failure destination record, so that
        # dead-lettered events look the same in the sandbox and in AWS.
        record = {
            "version": "1.0",
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": handler,
                               "condition": "RetriesExhausted",
                               "approximateInvokeCount": invocation.attempts},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": invocation.error,
                                "errorType": invocation.error.split(":", 1)[0]},
        }
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(record))

    def run_forever(self) -> None:
        logger.info("event runner started: watching %s", self._events_queue_url)
        while not self.stopping:
            self.poll_once(wait_seconds=1)
        logger.info("event runner stopped")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 row``, ``2 rows``: a count with its noun in the right number."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def _summary(result) -> str:
    """The handler's outcome in words, for the one line per invocation."""
    if not isinstance(result, dict):
        return "done"
    status = result.get("status")
    if status == "rejected":
        return f"{result.get('error')} Report: {result.get('report_key')}"
    if status == "superseded":
        return f"superseded: {result.get('error')}"
    text = f"{status}, {plural(result.get('rows') or 0, 'row')} of batch {result.get('batch_id')}"
    if result.get("published_revision"):
        text += (f", published revision {result['published_revision']} "
                 f"({plural(result['messages'], 'message')})")
    elif result.get("waiting_for"):
        text += f", waiting for {', '.join(result['waiting_for'])}"
    return text


def load_app(stage: str):
    import os
    os.environ.setdefault("CHALICE_STAGE", stage)
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    import app as app_module
    return app_module.app


def build_runner(stage: str, max_attempts: int, retry_delay: float) -> EventRunner:
    settings = Settings.for_stage(stage)
    sqs = aws.client("sqs")
    return EventRunner(
        load_app(stage), sqs,
        events_queue_url=sqs.get_queue_url(QueueName=events_queue_name(settings))["QueueUrl"],
        dead_letter_queue_url=sqs.get_queue_url(QueueName=settings.dead_letter_queue_name)["QueueUrl"],
        stage=stage, max_attempts=max_attempts, retry_delay=retry_delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local")
    parser.add_argument("--max-attempts", type=int, default=3,
                        help="invocations per event before it is dead-lettered (Lambda: 3)")
    parser.add_argument("--retry-delay", type=float, default=1.0,
                        help="seconds before the first retry; the second waits twice as long")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    runner = build_runner(args.stage, args.max_attempts, args.retry_delay)

    def stop(signum, frame):
        runner.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
