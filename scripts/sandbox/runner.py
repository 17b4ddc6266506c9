"""The local event runner: S3 -> Lambda where no real Lambda can run.

The sandbox sends the ingest bucket's notifications to an internal SQS queue,
which plays Lambda's own event queue. The runner reads them, matches each
record against the S3 handlers the Chalice app registered (bucket, events,
prefix, suffix, read from the app object), and invokes the handler as Lambda's
runtime would (``invokers``). A failed invocation is retried like Lambda's
asynchronous retries, with the same request id; when the attempts are spent,
the event goes to the dead-letter queue in the shape of a Lambda on-failure
destination record, with the error.

As Lambda does, the background runner invokes up to the function's reserved
concurrency at once, each invocation in an execution environment of its own
(a worker process, see ``environments``) that is reused while warm; it stops
an invocation at the stage's ``lambda_timeout`` or when it outgrows
``lambda_memory_size``, and writes a REPORT line for each. In the foreground
(``make local-run``, ``--in-process``) it invokes one event at a time in its
own process, so that ``breakpoint()`` gets the terminal; there it measures
but cannot stop.

It stops promptly on SIGTERM: it takes no more events, stops its
environments, and hands the events it held back to the queue, where the next
runner takes them at once (as it also does with those of a runner that died:
``visibility``). While the emulator does not answer, it waits and tries
again, and says so in its log. With ``CHAOS`` set it delivers events as AWS
does at its worst (``chaos``).

``chalice local`` serves HTTP routes only; this is its counterpart for S3 events.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import json
import logging
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote_plus

from chalice.app import S3EventConfig

from chalicelib import aws
from chalicelib.config import Settings
from scripts.sandbox.chaos.delivery import ChaosDelivery
from scripts.sandbox.chaos.settings import Chaos
from scripts.sandbox.environments import Attempt
from scripts.sandbox.function_config import FunctionConfig, function_config, project_dir
from scripts.sandbox.invokers import BeyondThePackage, InProcessInvoker, PoolInvoker
from scripts.sandbox.state import sandbox_dir
from scripts.sandbox.visibility import VisibilityKeeper, hand_back_left_over
from scripts.sandbox.wording import figures, outcome, plural

logger = logging.getLogger("event_runner")

# How long an event taken from the queue stays hidden unless the runner extends
# it: what the events of a runner that died wait at most before another takes them.
EVENT_VISIBILITY_SECONDS = 30
HELD_FILE = "events-held.json"
# Request ids of one event's invocations: the same for all its attempts, as Lambda's.
_REQUEST_IDS = uuid.UUID("6f1d3f8e-5a4b-4c1e-9d59-4ab1e2c0a7d3")


class RunnerStopping(Exception):
    """The runner is stopping: the event goes back to the queue, neither retried nor dead-lettered."""


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


def request_id_for(message_id: str, record: int, handler: str) -> str:
    """The request id of one record's invocation of ``handler``: the same for every attempt."""
    return str(uuid.uuid5(_REQUEST_IDS, f"{message_id}/{record}/{handler}"))


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


class Outage:
    """Says once that the emulator stopped answering, and once that it answers again."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint
        self._since: float | None = None
        self._delay = 0.0

    def failed(self, error: Exception) -> float:
        """Note a failed call; return how long to wait before the next one."""
        if self._since is None:
            self._since = time.monotonic()
            logger.warning("the emulator at %s does not answer (%s: %s); the runner waits and "
                           "tries again, and goes on when it answers", self._endpoint,
                           type(error).__name__, error)
        self._delay = min(10.0, max(1.0, self._delay * 2))
        return self._delay

    def answered(self) -> None:
        if self._since is not None:
            logger.warning("the emulator at %s answers again after %.0f s; the runner goes on",
                           self._endpoint, time.monotonic() - self._since)
            self._since, self._delay = None, 0.0


class EventRunner:
    def __init__(self, app, sqs, events_queue_url: str, dead_letter_queue_url: str,
                 stage: str = "local", max_attempts: int | None = None, retry_delay: float = 1.0,
                 sleep: Callable[[float], None] | None = None, invoker=None,
                 project: Path | None = None, visibility_seconds: int = EVENT_VISIBILITY_SECONDS,
                 extend_every_seconds: float | None = None, held_file: Path | None = None,
                 delivery=None) -> None:
        self._app = app
        self._project = project or project_dir()
        self._stage = stage
        self._configs: dict[str, FunctionConfig] = {}
        self._lock = threading.Lock()
        self._invoker = invoker or InProcessInvoker(stage, self._project, self.function)
        self._sqs = sqs
        self._events_queue_url = events_queue_url
        self._visibility = VisibilityKeeper(sqs, events_queue_url, visibility_seconds,
                                            extend_every_seconds, held_file)
        self._held_file = held_file
        self._dlq_url = dead_letter_queue_url
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait  # a stop cuts a wait short
        self._outage = Outage(getattr(getattr(sqs, "meta", None), "endpoint_url", "") or "the endpoint")
        self._delivery = delivery  # chaos: duplicates and late deliveries, or None
        self._invoked: Counter[str] = Counter()

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
                self._configs[handler] = function_config(handler, self._stage, self._project)
            return self._configs[handler]

    def forget_function_settings(self) -> None:
        """.chalice/config.json changed: read the settings again when next asked."""
        with self._lock:
            self._configs.clear()

    # --- taking events -------------------------------------------------------------
    def poll_once(self, wait_seconds: int = 1, max_messages: int = 10) -> list[Invocation]:
        """Take up to ``max_messages`` events and handle them one after the other."""
        return self._handle_in_turn(self._receive(wait_seconds, max_messages))

    def _handle_in_turn(self, messages: list[dict]) -> list[Invocation]:
        taken = [message for message in messages if self._take(message)]
        invocations = []
        try:
            for message in taken:  # the later ones wait their turn hidden too
                invocations.extend(self._handle_and_delete(message))
        except RunnerStopping:
            return invocations  # still held: handed back as the runner stops
        finally:  # if one failed, the ones after it go back to SQS's own timeout
            if not self.stopping:
                for message in taken:
                    self._visibility.release(message)
        return invocations

    def _take(self, message: dict) -> bool:
        """Hold ``message`` for handling; False if it is not to be handled now."""
        if not self._visibility.hold(message):
            logger.info("an event being handled was delivered again (message %s): not invoked "
                        "twice at once", message.get("MessageId"))
            return False
        if self._delivery is not None and not self._delivery.take(message):
            self._visibility.release(message)
            return False
        return True

    def _receive(self, wait_seconds: int, max_messages: int) -> list[dict]:
        return self._sqs.receive_message(
            QueueUrl=self._events_queue_url, MaxNumberOfMessages=max(1, min(10, max_messages)),
            WaitTimeSeconds=wait_seconds, VisibilityTimeout=self._visibility.visibility_seconds,
            MessageAttributeNames=["All"]).get("Messages", [])

    def _receive_when_answering(self, wait_seconds: int, max_messages: int) -> list[dict]:
        """``_receive``, waiting out an emulator that does not answer (until the runner stops)."""
        while not self.stopping:
            try:
                messages = self._receive(wait_seconds, max_messages)
            except Exception as exc:  # noqa: BLE001 - whatever the failure, wait and try again
                self._sleep(self._outage.failed(exc))
                continue
            self._outage.answered()
            return messages
        return []

    # --- handling one event --------------------------------------------------------
    def _handle_and_delete(self, message: dict) -> list[Invocation]:
        invocations = self.handle_message(message["Body"], message.get("MessageId"))
        # Deleted only once every record is handled or dead-lettered: a runner
        # that dies mid-way leaves the event to be delivered again.
        self._sqs.delete_message(QueueUrl=self._events_queue_url,
                                 ReceiptHandle=self._visibility.receipt_handle(message))
        return invocations

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
            "responsePayload": {"errorMessage": invocation.error,
                                "errorType": invocation.error_type or invocation.error.split(":", 1)[0]},
        }
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(record))

    # --- running ---------------------------------------------------------------------
    def run_forever(self) -> None:
        logger.info("event runner started: watching %s", self._events_queue_url)
        if self._held_file is not None:
            handed = hand_back_left_over(self._sqs, self._events_queue_url, self._held_file)
            if handed:
                logger.warning("took back %s that a runner which stopped without a word still "
                               "held; they run again now", plural(handed, "event"))
        try:
            if isinstance(self._invoker, InProcessInvoker):
                while not self.stopping:
                    self._handle_in_turn(self._receive_when_answering(1, 1))
            else:
                self._dispatch()
        finally:
            self._invoker.close()  # stops the environments: what runs in them fails at once
            handed = self._visibility.hand_back_all()
            self._visibility.close()
            if self._held_file is not None:
                self._held_file.unlink(missing_ok=True)
        logger.info("event runner stopped%s", f"; {plural(handed, 'event')} handed back to the "
                                              f"queue for the next runner" if handed else "")

    def _dispatch(self) -> None:
        """Take events while an environment could run them; each message on a thread of its own."""
        slots = max(self.function(name).concurrency for name in _s3_handler_names(self._app))
        # Twice the environments: an event waiting between two attempts holds a
        # thread, not an environment, so others run meanwhile.
        threads = concurrent.futures.ThreadPoolExecutor(max_workers=2 * slots)
        running: set[concurrent.futures.Future] = set()
        try:
            while not self.stopping:
                running = {f for f in running if not f.done()}
                free = 2 * slots - len(running)
                if free <= 0:
                    concurrent.futures.wait(running, timeout=1,
                                            return_when=concurrent.futures.FIRST_COMPLETED)
                    continue
                for message in self._receive_when_answering(1, free):
                    if self._take(message):
                        running.add(threads.submit(self._handle_logged, message))
        finally:
            self._invoker.close()  # what still runs fails at once, and is handed back
            threads.shutdown(wait=True)

    def _handle_logged(self, message: dict) -> None:
        try:
            self._handle_and_delete(message)
        except RunnerStopping:
            return  # still held: handed back to the queue as the runner stops
        except Exception:  # noqa: BLE001 - the message stays; SQS delivers it again
            if self.stopping:
                return  # still held: handed back to the queue as the runner stops
            logger.exception("could not handle an event; it will be delivered again")
        self._visibility.release(message)


def _s3_handler_names(app) -> list[str]:
    return [source.name for source in app.event_sources if isinstance(source, S3EventConfig)] or ["-"]


def load_app(stage: str):
    """The Chalice app of the project the runner serves (RUNNER_PROJECT_DIR, else this one)."""
    from scripts.sandbox.worker import load_app as load
    return load(stage, str(project_dir()))


def _queue_url(sqs, name: str, stop: threading.Event) -> str:
    """The queue's URL, waiting for an emulator that does not answer yet."""
    outage = Outage(sqs.meta.endpoint_url)
    while True:
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except Exception as exc:  # noqa: BLE001 - whatever the failure, wait and try again
            if stop.wait(outage.failed(exc)):
                raise SystemExit(0) from exc
            continue
        outage.answered()
        return url


def build_runner(stage: str, max_attempts: int | None, retry_delay: float,
                 in_process: bool = True, chaos: Chaos | None = None,
                 stop: threading.Event | None = None,
                 beyond: BeyondThePackage | None = None) -> EventRunner:
    settings = Settings.for_stage(stage)
    sqs = aws.client("sqs")
    app = load_app(stage)
    if beyond is not None:
        beyond.say()  # what the app imported at init
    stop = stop or threading.Event()
    events_url = _queue_url(sqs, events_queue_name(settings), stop)
    chaos = chaos if chaos is not None and chaos.on and not in_process else None
    runner = EventRunner(
        app, sqs, events_queue_url=events_url,
        dead_letter_queue_url=_queue_url(sqs, settings.dead_letter_queue_name, stop),
        stage=stage, max_attempts=max_attempts, retry_delay=retry_delay,
        invoker=InProcessInvoker(stage, project_dir(), lambda handler: runner.function(handler),
                                 beyond) if in_process else PoolInvoker(
            stage, project_dir(), lambda handler: runner.function(handler),
            sandbox_dir() / "environments.json", chaos,
            forget_settings=lambda: runner.forget_function_settings()),
        held_file=sandbox_dir() / HELD_FILE,
        delivery=ChaosDelivery(chaos, sqs, events_url) if chaos else None)
    if chaos:
        logger.warning("chaos mode is ON: %s; each fault injected on purpose is logged on a "
                       "line 'CHAOS <fault>: ...'", chaos.describe())
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
    parser.add_argument("--chaos", default="", help="faults to inject (CHAOS), e.g. all")
    parser.add_argument("--chaos-seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stopped = threading.Event()
    runner: EventRunner | None = None

    def stop(signum, frame):
        stopped.set()
        if runner is not None:
            runner.stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    chaos = Chaos.parse(args.chaos, args.chaos_seed)
    if chaos.on and args.in_process:
        logger.warning("chaos mode is off in the foreground runner (a kill would end this "
                       "process); the background runner of `make local-up` injects the faults")
    beyond = None
    if args.in_process:
        logger.info("the function runs in this process, with the development venv's packages on "
                    "its path (so that breakpoint() works); the runner says when it imports one "
                    "its deployment package does not hold")
        beyond = BeyondThePackage(project_dir())
    runner = build_runner(args.stage, args.max_attempts, args.retry_delay, args.in_process,
                          chaos=chaos, stop=stopped, beyond=beyond)
    if stopped.is_set():
        runner.stop()
    runner.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
