"""The event runner's core: each record of a notification to the app's handlers, as Lambda invokes them.

A record goes to every S3 handler that matches it (``notifications``),
invoked as Lambda's runtime would (``invokers``). A failed invocation is
retried like Lambda's asynchronous retries, with the same request id; when
the attempts are spent, the event goes to the dead-letter queue in the shape
of a Lambda on-failure destination record, with the error. Each attempt
writes its REPORT line, and a warning when it comes near the function's
timeout. Where the events come from is ``intake``'s job.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote_plus

from scripts.sandbox.environments import Attempt
from scripts.sandbox.function_config import FunctionConfig, function_config, project_dir
from scripts.sandbox.intake import EVENT_VISIBILITY_SECONDS, Intake, RunnerStopping
from scripts.sandbox.invokers import InProcessInvoker
from scripts.sandbox.notifications import matching_handlers, request_id_for, s3_handler_names
from scripts.sandbox.wording import figures, outcome, plural

logger = logging.getLogger("event_runner")


@dataclass
class Invocation:
    handler: str
    key: str
    ok: bool
    attempts: int
    duration_ms: float
    result: object = None  # what the handler returned: any JSON value (the app's handlers return a dict)
    error: str = ""
    error_type: str = ""


class EventRunner:
    """Invokes the app's handlers for the events of its queue, with Lambda's retries and dead letters.

    ``function_environment`` is what every function gets beside its own
    variables, as LocalStack gives its functions AWS_ENDPOINT_URL: a tool that
    runs the function in its own process (`make replay`) passes the sandbox's
    endpoint there, for the length of each invocation only.
    """

    def __init__(self, app, sqs, events_queue_url: str, dead_letter_queue_url: str,
                 stage: str = "local", max_attempts: int | None = None, retry_delay: float = 1.0,
                 sleep: Callable[[float], None] | None = None, invoker=None,
                 project: Path | None = None, visibility_seconds: int = EVENT_VISIBILITY_SECONDS,
                 extend_every_seconds: float | None = None, held_file: Path | None = None,
                 delivery=None, function_environment: Mapping[str, str] | None = None,
                 still_ours: Callable[[], bool] | None = None) -> None:
        self._app = app
        self._project = project or project_dir()
        self._stage = stage
        self._environment = dict(function_environment or {})
        self._configs: dict[str, FunctionConfig] = {}
        self._lock = threading.Lock()
        self._invoker = invoker or InProcessInvoker(stage, self._project, self.function)
        self._sqs = sqs
        self._dlq_url = dead_letter_queue_url
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait  # a stop cuts a wait short
        self._invoked: Counter[str] = Counter()
        self._intake = Intake(sqs, events_queue_url, self.handle_message, self._stop, self._sleep,
                              visibility_seconds, extend_every_seconds, held_file, delivery,
                              still_ours)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Take no more events; the ones being handled go back to the queue (see run_forever)."""
        self._stop.set()

    def function(self, handler: str) -> FunctionConfig:
        """The handler's Lambda settings for the stage (read once, and again after a change)."""
        with self._lock:
            if handler not in self._configs:
                config = function_config(handler, self._stage, self._project)
                if self._environment:  # the function's own variables win, as they would in LocalStack
                    config = dataclasses.replace(config, environment={**self._environment,
                                                                      **config.environment})
                self._configs[handler] = config
            return self._configs[handler]

    def forget_function_settings(self) -> None:
        """.chalice/config.json changed: read the settings again when next asked."""
        with self._lock:
            self._configs.clear()

    # --- taking events (``intake``) -------------------------------------------------
    def poll_once(self, wait_seconds: int = 1, max_messages: int = 10) -> list[Invocation]:
        """Take up to ``max_messages`` events and handle them one after the other."""
        return self._intake.poll_once(wait_seconds, max_messages)

    def close(self) -> None:
        """End the function's environments (what ``run_forever`` does when it stops)."""
        self._invoker.close()

    def run_forever(self) -> None:
        """Handle events until stopped: in the function's own process one at a time, else as many
        at once as its concurrency allows."""
        in_turn = isinstance(self._invoker, InProcessInvoker)
        self._intake.run(None if in_turn else self._slots, self._invoker.close)

    def _slots(self) -> int:
        return max(self.function(name).concurrency for name in s3_handler_names(self._app))

    # --- handling one event --------------------------------------------------------
    def handle_message(self, body: str, message_id: str | None = None) -> list[Invocation]:
        notification = json.loads(body)
        if notification.get("Event") == "s3:TestEvent":
            return []  # S3 sends one when the notification is configured
        message_id = message_id or str(uuid.uuid4())
        invocations = []
        for index, record in enumerate(notification.get("Records", [])):
            key = unquote_plus(record["s3"]["object"]["key"])
            handlers = matching_handlers(self._app, record)
            if not handlers:
                logger.info("%s: skipped, no handler matches %s", key, record["eventName"])
            for handler in handlers:
                invocations.append(self.invoke(handler, {"Records": [record]}, key,
                                               request_id_for(message_id, index, handler)))
        return invocations

    def invoke(self, handler: str, event: dict, key: str, request_id: str | None = None) -> Invocation:
        function = self.function(handler)
        max_attempts = self._max_attempts or function.max_attempts
        request_id = request_id or str(uuid.uuid4())
        chaos_key = self._chaos_key(event)
        started = time.monotonic()
        attempt: Attempt | None = None
        for number in range(1, max_attempts + 1):
            if self.stopping:
                raise RunnerStopping()
            attempt = self._invoker.invoke(request_id, handler, event, number,
                                           number == max_attempts, chaos_key)
            self._log_report(key, handler, attempt, function)
            if attempt.ok:
                logger.info("%s -> %s: %s in %s", key, handler, outcome(attempt.payload),
                            figures(attempt.report))
                return Invocation(handler, key, True, number, (time.monotonic() - started) * 1000,
                                  result=attempt.payload)
            if self.stopping:  # its environment was stopped with the runner: not its failure
                raise RunnerStopping()
            # ``attempt`` lets a reader of these records (`make replay`) keep one line per event.
            logger.error("%s -> %s: attempt %d/%d failed: %s; in %s\n%s", key, handler, number,
                         max_attempts, attempt.error, figures(attempt.report),
                         attempt.traceback or "(no traceback: the environment was stopped)",
                         extra={"attempt": number})
            if number < max_attempts:
                self._sleep(self._retry_delay * number)
        assert attempt is not None
        invocation = Invocation(handler, key, False, max_attempts,
                                (time.monotonic() - started) * 1000, error=attempt.error,
                                error_type=attempt.error_type)
        self._dead_letter(handler, event, invocation, request_id)
        logger.error("%s -> %s: FAILED after %s, sent to the dead-letter queue: %s",
                     key, handler, plural(max_attempts, "attempt"), attempt.error)
        return invocation

    def _chaos_key(self, event: dict) -> str:
        """What chaos decides the faults of an invocation by: the upload, and which time it is
        invoked (request ids come from SQS's random message ids, so would not repeat)."""
        upload = ",".join(f"{r['s3']['object']['key']}@{r['s3']['object'].get('eTag', '')}"
                          for r in event.get("Records", []))
        with self._lock:
            self._invoked[upload] += 1
            return f"{upload}#{self._invoked[upload]}"

    def _log_report(self, key: str, handler: str, attempt: Attempt, function: FunctionConfig) -> None:
        logger.info("%s", attempt.report.line())
        for warning in attempt.report.warnings(function.timeout_seconds):
            logger.warning("%s -> %s: %s; Lambda stops it at 100%%", key, handler, warning)
        if attempt.report.duration_ms > function.timeout_seconds * 1000 and attempt.ok:
            logger.warning("%s -> %s: ran past its timeout of %g s; in Lambda it would have "
                           "failed with: Task timed out", key, handler, function.timeout_seconds)

    def _dead_letter(self, handler: str, event: dict, invocation: Invocation, request_id: str) -> None:
        # The shape of an AWS Lambda on-failure destination record, so that
        # dead-lettered events look the same in the sandbox and in AWS.
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {"requestId": request_id, "functionArn": handler,
                               "condition": "RetriesExhausted",
                               "approximateInvokeCount": invocation.attempts},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": "Unhandled"},
            "responsePayload": lambda_error(invocation.error, invocation.error_type),
        }
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(record))


def lambda_error(error: str, error_type: str) -> dict:
    """The error as Lambda's destinations record it: the type apart, the message without it
    (the runner's lines say ``<type>: <message>``, as Lambda's log does)."""
    error_type = error_type or error.split(":", 1)[0]
    message = error.removeprefix(f"{error_type}: ")
    return {"errorMessage": message, "errorType": error_type}
