"""How the runner takes events from its queue, as Lambda's poller takes them from its own.

An event taken is held while it is handled (``visibility``): hidden from every
other receiver for as long as that takes, and never invoked twice at once. It
is deleted once the runner has handled or dead-lettered every record in it;
one whose handling failed otherwise goes back to SQS's own timeout, to be
delivered again. The background runner handles each message on a thread of
its own, taking events while an environment could run them; the foreground
one handles them one after the other.

It stops promptly: it takes no more events and hands the ones it held back
to the queue, where the next runner takes them at once (as it also does with
those of a runner that died). While the emulator does not answer, it waits
and tries again, and says so in its log.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from scripts.sandbox.visibility import VisibilityKeeper, hand_back_left_over
from scripts.sandbox.wording import plural

if TYPE_CHECKING:  # the core imports this module; this one needs the type only
    from scripts.sandbox.event_runner import Invocation

logger = logging.getLogger("event_runner")

# How long an event taken from the queue stays hidden unless the runner extends
# it: what the events of a runner that died wait at most before another takes them.
EVENT_VISIBILITY_SECONDS = 30

# What handles one message: its body and message id in, the invocations it made out.
type Handle = Callable[[str, str | None], list[Invocation]]


class RunnerStopping(Exception):
    """The runner is stopping: the event goes back to the queue, neither retried nor dead-lettered."""


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


def wait_for_queue_url(sqs, name: str, stop: threading.Event) -> str:
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


class Intake:
    """Takes the events of one queue and hands each message to ``handle``.

    ``handle`` raises RunnerStopping when the runner stops in the middle of a
    message: the message stays held, to be handed back with the others.
    """

    def __init__(self, sqs, queue_url: str, handle: Handle, stop: threading.Event,
                 sleep: Callable[[float], object], visibility_seconds: int = EVENT_VISIBILITY_SECONDS,
                 extend_every_seconds: float | None = None, held_file: Path | None = None,
                 delivery=None, still_ours: Callable[[], bool] | None = None) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handle = handle
        self._stop = stop
        self._sleep = sleep
        self._visibility = VisibilityKeeper(sqs, queue_url, visibility_seconds,
                                            extend_every_seconds, held_file)
        self._held_file = held_file
        self._outage = Outage(getattr(getattr(sqs, "meta", None), "endpoint_url", "") or "the endpoint")
        self._delivery = delivery  # chaos: duplicates and late deliveries, or None
        # Whether the sandbox still counts this runner as its own (None: nothing to ask).
        self._still_ours = still_ours
        self._disowned = False

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def poll_once(self, wait_seconds: int = 1, max_messages: int = 10) -> list[Invocation]:
        """Take up to ``max_messages`` events and handle them one after the other."""
        return self._handle_in_turn(self._receive(wait_seconds, max_messages))

    def run(self, slots: Callable[[], int] | None, stop_invoking: Callable[[], None]) -> None:
        """Take events until the runner stops, then hand back the ones still held.

        ``slots`` None: one event after the other (the function runs in this
        process); else each message on a thread of its own, while fewer than
        ``slots()`` environments are busy. ``stop_invoking`` stops the
        environments: what runs in them fails at once.
        """
        logger.info("event runner started: watching %s", self._queue_url)
        if self._held_file is not None:
            handed = hand_back_left_over(self._sqs, self._queue_url, self._held_file)
            if handed:
                logger.warning("took back %s that a runner which stopped without a word still "
                               "held; they run again now", plural(handed, "event"))
        try:
            if slots is None:
                while not self.stopping:
                    self._handle_in_turn(self._receive_when_answering(1, 1))
            else:
                self._dispatch(slots(), stop_invoking)
        finally:
            stop_invoking()
            # Disowned, what it holds is the old sandbox's, and the held file the new one's.
            handed = 0 if self._disowned else self._visibility.hand_back_all()
            self._visibility.close()
            if self._held_file is not None and not self._disowned:
                self._held_file.unlink(missing_ok=True)
        logger.info("event runner stopped%s", f"; {plural(handed, 'event')} handed back to the "
                                              f"queue for the next runner" if handed else "")

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
            QueueUrl=self._queue_url, MaxNumberOfMessages=max(1, min(10, max_messages)),
            WaitTimeSeconds=wait_seconds, VisibilityTimeout=self._visibility.visibility_seconds,
            MessageAttributeNames=["All"],
            AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])  # chaos: first delivery?

    def _receive_when_answering(self, wait_seconds: int, max_messages: int) -> list[dict]:
        """``_receive``, waiting out an emulator that does not answer (until the runner stops)."""
        while not self.stopping:
            try:
                messages = self._receive(wait_seconds, max_messages)
            except Exception as exc:  # noqa: BLE001 - whatever the failure, wait and try again
                self._sleep(self._outage.failed(exc))
                if self._still_ours is not None and not self._still_ours():
                    self._disown()
                continue
            self._outage.answered()
            return messages
        return []

    def _disown(self) -> None:
        """The sandbox was stopped (or another took its place) while its emulator did not
        answer: stop before an emulator that answers there later, someone else's, is asked."""
        logger.warning("this runner's sandbox was stopped or replaced while its emulator did not "
                       "answer: the runner stops, and takes nothing from an emulator that answers "
                       "at %s later", self._queue_url)
        self._disowned = True
        self._stop.set()

    def _handle_and_delete(self, message: dict) -> list[Invocation]:
        invocations = self._handle(message["Body"], message.get("MessageId"))
        # Deleted only once every record is handled or dead-lettered: a runner
        # that dies mid-way leaves the event to be delivered again.
        self._sqs.delete_message(QueueUrl=self._queue_url,
                                 ReceiptHandle=self._visibility.receipt_handle(message))
        return invocations

    def _dispatch(self, slots: int, stop_invoking: Callable[[], None]) -> None:
        """Take events while an environment could run them; each message on a thread of its own."""
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
            stop_invoking()  # what still runs fails at once, and is handed back
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
