"""The local event runner: S3 -> Lambda where no real Lambda can run.

The sandbox sends the ingest bucket's notifications to an internal SQS queue.
The runner reads them, matches each record against the S3 handlers the Chalice
app registered (bucket, events, prefix, suffix, read from the app object), and
invokes the handler through Chalice's own Lambda wrapper
(``chalice.test.Client``), which also sets the stage's environment variables.
A failed invocation is retried like Lambda's asynchronous retries; when the
attempts are spent, the event goes to the dead-letter queue in the shape of a
Lambda on-failure destination record, with the error.

As Lambda does, the background runner invokes up to the function's reserved
concurrency at once, each invocation in an execution environment of its own
(a worker process, see ``environments``) that is reused while warm; it stops
an invocation at the stage's ``lambda_timeout`` or when it outgrows
``lambda_memory_size``, and writes a REPORT line for each. In the foreground
(``make local-run``, ``--in-process``) it invokes one event at a time in its
own process, so that ``breakpoint()`` gets the terminal; there it measures
but cannot stop.

``chalice local`` serves HTTP routes only; this is its counterpart for S3 events.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import unquote_plus

from chalice.app import S3EventConfig

from chalicelib import aws
from chalicelib.config import Settings
from scripts.sandbox import memory
from scripts.sandbox.environments import Attempt, EnvironmentPool, StatusBoard
from scripts.sandbox.function_config import FunctionConfig, function_config, project_dir
from scripts.sandbox.report import Report
from scripts.sandbox.state import sandbox_dir
from scripts.sandbox.visibility import VisibilityKeeper

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
    error_type: str = ""


class InProcessInvoker:
    """Invokes in the runner's own process, one at a time: `make local-run`, replays, tests.

    A debugger may hold an invocation for as long as it likes, so the timeout
    is not enforced here; the REPORT says when Lambda would have stopped it.
    """

    def __init__(self, app, stage: str, project: Path, functions) -> None:
        from chalice.test import Client  # Chalice's own wrapper: stage env vars, context
        self._client = Client(app, stage_name=stage, project_dir=str(project))
        self._functions = functions

    def invoke(self, request_id: str, handler: str, event: dict) -> Attempt:
        function = self._functions(handler)
        memory.reset_peak(os.getpid())
        started = time.monotonic()
        try:
            payload = self._client.lambda_.invoke(handler, event).payload
            ok, error, error_type, trace = True, "", "", ""
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried, as Lambda does
            payload, ok, error, error_type = None, False, f"{type(exc).__name__}: {exc}", type(exc).__name__
            trace = traceback.format_exc().rstrip()
        report = Report(request_id, (time.monotonic() - started) * 1000, function.memory_mb,
                        memory.peak_mb(os.getpid()))
        return Attempt(ok, report, "in-process", payload=payload, error=error,
                       error_type=error_type, traceback=trace)

    def close(self) -> None:
        pass


class PoolInvoker:
    """Invokes in execution environments: a pool of worker processes per function."""

    def __init__(self, stage: str, project: Path, functions, status_file: Path | None) -> None:
        self._stage, self._project, self._functions = stage, project, functions
        self._board = StatusBoard(status_file) if status_file is not None else None
        self._pools: dict[str, EnvironmentPool] = {}
        self._lock = threading.Lock()

    def pool(self, handler: str) -> EnvironmentPool:
        with self._lock:
            if handler not in self._pools:
                self._pools[handler] = EnvironmentPool(self._functions(handler), self._stage,
                                                       self._project, self._board)
            return self._pools[handler]

    def invoke(self, request_id: str, handler: str, event: dict) -> Attempt:
        return self.pool(handler).invoke(request_id, handler, event)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()


class EventRunner:
    def __init__(self, app, sqs, events_queue_url: str, dead_letter_queue_url: str,
                 stage: str = "local", max_attempts: int | None = None, retry_delay: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, invoker=None,
                 project: Path | None = None, visibility_seconds: int = 900,
                 extend_every_seconds: float | None = None) -> None:
        self._app = app
        self._project = project or project_dir()
        self._stage = stage
        self._configs: dict[str, FunctionConfig] = {}
        self._invoker = invoker or InProcessInvoker(app, stage, self._project, self.function)
        self._sqs = sqs
        self._events_queue_url = events_queue_url
        self._visibility = VisibilityKeeper(sqs, events_queue_url, visibility_seconds,
                                            extend_every_seconds)
        self._dlq_url = dead_letter_queue_url
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._sleep = sleep
        self.stopping = False

    def function(self, handler: str) -> FunctionConfig:
        """The handler's Lambda settings for the stage (read once)."""
        if handler not in self._configs:
            self._configs[handler] = function_config(handler, self._stage, self._project)
        return self._configs[handler]

    def poll_once(self, wait_seconds: int = 1, max_messages: int = 10) -> list[Invocation]:
        invocations = []
        messages = self._receive(wait_seconds, max_messages)
        for message in messages:  # the later ones wait their turn hidden too
            self._visibility.hold(message)
        try:
            for message in messages:
                invocations.extend(self.handle_and_delete(message))
        finally:  # if one failed, the ones after it go back to SQS's own timeout
            for message in messages:
                self._visibility.release(message)
        return invocations

    def _receive(self, wait_seconds: int, max_messages: int) -> list[dict]:
        return self._sqs.receive_message(QueueUrl=self._events_queue_url,
                                         MaxNumberOfMessages=max(1, min(10, max_messages)),
                                         WaitTimeSeconds=wait_seconds).get("Messages", [])

    def handle_and_delete(self, message: dict) -> list[Invocation]:
        with self._visibility.held(message):
            invocations = self.handle_message(message["Body"])
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
        function = self.function(handler)
        max_attempts = self._max_attempts or function.max_attempts
        started = time.monotonic()
        attempt = None
        for number in range(1, max_attempts + 1):
            attempt = self._invoker.invoke(str(uuid.uuid4()), handler, event)
            self._log_report(key, handler, attempt, function)
            if attempt.ok:
                invocation = Invocation(handler, key, True, number,
                                        (time.monotonic() - started) * 1000, result=attempt.payload)
                logger.info("%s -> %s: %s in %s", key, handler, _summary(attempt.payload),
                            _figures(attempt.report))
                return invocation
            # ``attempt`` lets a reader of these records (`make replay`) keep one line per event.
            logger.error("%s -> %s: attempt %d/%d failed: %s; in %s\n%s", key, handler, number,
                         max_attempts, attempt.error, _figures(attempt.report),
                         attempt.traceback or "(no traceback: the environment was stopped)",
                         extra={"attempt": number})
            if number < max_attempts:
                self._sleep(self._retry_delay * number)
        invocation = Invocation(handler, key, False, max_attempts,
                                (time.monotonic() - started) * 1000, error=attempt.error,
                                error_type=attempt.error_type)
        self._dead_letter(handler, event, invocation)
        logger.error("%s -> %s: FAILED after %d attempts, sent to the dead-letter queue: %s",
                     key, handler, max_attempts, attempt.error)
        return invocation

    def _log_report(self, key: str, handler: str, attempt: Attempt, function: FunctionConfig) -> None:
        logger.info("%s", attempt.report.line())
        for warning in attempt.report.warnings(function.timeout_seconds):
            logger.warning("%s -> %s: %s; Lambda stops it at 100%%", key, handler, warning)
        if attempt.report.duration_ms > function.timeout_seconds * 1000 and attempt.ok:
            logger.warning("%s -> %s: ran past its timeout of %g s; in Lambda it would have "
                           "failed with: Task timed out", key, handler, function.timeout_seconds)

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
                                "errorType": invocation.error_type or invocation.error.split(":", 1)[0]},
        }
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(record))

    def run_forever(self) -> None:
        logger.info("event runner started: watching %s", self._events_queue_url)
        try:
            if isinstance(self._invoker, InProcessInvoker):
                while not self.stopping:
                    self.poll_once(wait_seconds=1, max_messages=1)
            else:
                self._dispatch()
        finally:
            self._visibility.close()
            self._invoker.close()
        logger.info("event runner stopped")

    def _dispatch(self) -> None:
        """Take events while an environment could run them; each message on a thread of its own."""
        slots = max(self.function(name).concurrency for name in _s3_handler_names(self._app))
        # Twice the environments: an event waiting between two attempts holds a
        # thread, not an environment, so others run meanwhile.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2 * slots) as threads:
            running: set[concurrent.futures.Future] = set()
            while not self.stopping:
                running = {f for f in running if not f.done()}
                free = 2 * slots - len(running)
                if free <= 0:
                    concurrent.futures.wait(running, timeout=1,
                                            return_when=concurrent.futures.FIRST_COMPLETED)
                    continue
                for message in self._receive(1, free):
                    running.add(threads.submit(self._handle_logged, message))

    def _handle_logged(self, message: dict) -> None:
        try:
            self.handle_and_delete(message)
        except Exception:  # noqa: BLE001 - the message stays; SQS delivers it again
            logger.exception("could not handle an event; it will be delivered again")


def _s3_handler_names(app) -> list[str]:
    return [source.name for source in app.event_sources if isinstance(source, S3EventConfig)] or ["-"]


def _figures(report: Report) -> str:
    """A REPORT in the words of the one line per invocation: ``61 ms, max 152/1024 MB, billed 62 ms``."""
    text = f"{report.duration_ms:.0f} ms, max {report.max_memory_used_mb}/{report.memory_size_mb} MB"
    if report.init_duration_ms is not None:
        text += f", init {report.init_duration_ms:.0f} ms"
    return text + f", billed {report.billed_duration_ms} ms"


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
    """The Chalice app of the project the runner serves (RUNNER_PROJECT_DIR, else this one)."""
    from scripts.sandbox.worker import load_app as load
    return load(stage, str(project_dir()))


def build_runner(stage: str, max_attempts: int | None, retry_delay: float,
                 in_process: bool = True) -> EventRunner:
    settings = Settings.for_stage(stage)
    sqs = aws.client("sqs")
    app = load_app(stage)
    runner = EventRunner(
        app, sqs,
        events_queue_url=sqs.get_queue_url(QueueName=events_queue_name(settings))["QueueUrl"],
        dead_letter_queue_url=sqs.get_queue_url(QueueName=settings.dead_letter_queue_name)["QueueUrl"],
        stage=stage, max_attempts=max_attempts, retry_delay=retry_delay,
        invoker=None if in_process else PoolInvoker(
            stage, project_dir(), lambda handler: runner.function(handler),
            sandbox_dir() / "environments.json"))
    return runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local")
    parser.add_argument("--max-attempts", type=int, default=None,
                        help="invocations per event before it is dead-lettered (default: 1 + the "
                             "stage's async_invocation.maximum_retry_attempts, as Lambda)")
    parser.add_argument("--retry-delay", type=float, default=1.0,
                        help="seconds before the first retry; the second waits twice as long")
    parser.add_argument("--in-process", action="store_true",
                        help="one invocation at a time in this process, so breakpoint() works")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    runner = build_runner(args.stage, args.max_attempts, args.retry_delay, args.in_process)

    def stop(signum, frame):
        runner.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
