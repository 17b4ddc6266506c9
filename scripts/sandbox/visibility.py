"""Keeps messages being handled hidden from other receivers, however long that takes.

The events queue hides a received message for its visibility timeout (900 s,
Lambda's longest timeout). One event can take longer than that: three attempts
of up to 15 minutes each, the waits between them, and the wait for a free
execution environment. Once the timeout ran out, SQS would hand the event out
again and a second invocation of it would run beside the first, which Lambda's
own event queue never does. So, while an event is being handled, its
visibility is extended every ``every_seconds`` (a third of the timeout), as
long-running SQS consumers do. `make replay` holds its snapshot of the
dead-letter queue the same way.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

logger = logging.getLogger("event_runner")

BATCH_LIMIT = 10  # entries per ChangeMessageVisibilityBatch


class VisibilityKeeper:
    def __init__(self, sqs, queue_url: str, visibility_seconds: int = 900,
                 every_seconds: float | None = None) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._visibility_seconds = visibility_seconds
        self._every_seconds = every_seconds if every_seconds is not None else visibility_seconds / 3
        self._held: dict[str, str] = {}  # receipt handle -> message id, for the log
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def held(self, message: dict):
        """Keep ``message`` (as ReceiveMessage gave it) hidden for as long as the block runs."""
        self.hold(message)
        try:
            yield
        finally:
            self.release(message)

    def hold(self, message: dict) -> None:
        """Keep ``message`` hidden until ``release``."""
        with self._lock:
            self._held[message["ReceiptHandle"]] = message.get("MessageId", "")
            if self._thread is None:
                self._thread = threading.Thread(target=self._keep_extending, daemon=True,
                                                name="queue-visibility")
                self._thread.start()

    def release(self, message: dict) -> None:
        with self._lock:
            self._held.pop(message["ReceiptHandle"], None)

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _keep_extending(self) -> None:
        while not self._closed.wait(self._every_seconds):
            with self._lock:
                handles = list(self._held)
            for start in range(0, len(handles), BATCH_LIMIT):
                self._extend(handles[start:start + BATCH_LIMIT])

    def _extend(self, handles: list[str]) -> None:
        try:
            answer = self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": self._visibility_seconds}
                for n, handle in enumerate(handles)])
        except Exception:  # noqa: BLE001 - logged; the next round tries again
            logger.exception("could not keep %d message(s) being handled hidden on %s; "
                             "SQS may deliver them again", len(handles), self._queue_url)
            return
        for failure in answer.get("Failed", []):
            handle = handles[int(failure["Id"])]
            with self._lock:
                message_id = self._held.get(handle)
            if message_id is not None:  # else it was done meanwhile, and deleted
                logger.warning("could not keep message %s hidden on %s (%s: %s); "
                               "SQS may deliver it again while it is handled", message_id,
                               self._queue_url, failure.get("Code"), failure.get("Message"))
