"""Keeps messages being handled hidden from other receivers, for as long as that takes and no longer.

The runner takes each event with a short visibility timeout (30 s) and,
while the event is handled, extends it every ``every_seconds`` (a third of
it), as long-running SQS consumers do. One event can take far longer than any
timeout (three attempts of up to 15 minutes, the waits between them), and
without the extension SQS would hand it out again and a second invocation
would run beside the first, which Lambda's own event queue never does. The
timeout is short so that the events of a runner that died come back within
half a minute, and the keeper notes the receipt handles it holds in a file,
so that the next runner hands them back at once (``hand_back_left_over``).

A message handed out again while it is held (SQS delivers at least once) is
not handled twice: ``hold`` says so, and keeps its newest receipt handle,
the one SQS's DeleteMessage needs. `make replay` holds its snapshot of the
dead-letter queue the same way.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

logger = logging.getLogger("event_runner")

BATCH_LIMIT = 10  # entries per ChangeMessageVisibilityBatch


class VisibilityKeeper:
    def __init__(self, sqs, queue_url: str, visibility_seconds: int = 30,
                 every_seconds: float | None = None, held_file: Path | None = None) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self.visibility_seconds = visibility_seconds
        self._every_seconds = every_seconds if every_seconds is not None else visibility_seconds / 3
        self._held_file = held_file
        self._held: dict[str, str] = {}  # message id -> its newest receipt handle
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, message: dict) -> bool:
        """Keep ``message`` hidden until ``release``; False if it is held already (handed out again)."""
        message_id = _id_of(message)
        with self._lock:
            first = message_id not in self._held
            self._held[message_id] = message["ReceiptHandle"]
            self._save()
            if self._thread is None:
                self._thread = threading.Thread(target=self._keep_extending, daemon=True,
                                                name="queue-visibility")
                self._thread.start()
        return first

    def receipt_handle(self, message: dict) -> str:
        """The newest receipt handle of ``message``: the one that deletes it."""
        with self._lock:
            return self._held.get(_id_of(message), message["ReceiptHandle"])

    def release(self, message: dict) -> None:
        with self._lock:
            self._held.pop(_id_of(message), None)
            self._save()

    def hand_back_all(self) -> int:
        """Make every held message visible again now (the runner stops); return how many."""
        with self._lock:
            handles = list(self._held.values())
            self._held.clear()
            self._save()
        return hand_back(self._sqs, self._queue_url, handles)

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _save(self) -> None:
        if self._held_file is None:
            return
        temporary = self._held_file.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(self._held))
            temporary.replace(self._held_file)
        except OSError as exc:  # only the next runner's prompt start depends on it
            logger.warning("could not write %s (%s): if the runner dies, its events come back "
                           "after %d s instead of at once", self._held_file, exc,
                           self.visibility_seconds)

    def _keep_extending(self) -> None:
        while not self._closed.wait(self._every_seconds):
            with self._lock:
                held = list(self._held.items())
            for start in range(0, len(held), BATCH_LIMIT):
                self._extend(held[start:start + BATCH_LIMIT])

    def _extend(self, held: list[tuple[str, str]]) -> None:
        try:
            answer = self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": self.visibility_seconds}
                for n, (_, handle) in enumerate(held)])
        except Exception:  # noqa: BLE001 - logged; the next round tries again
            logger.exception("could not keep %d message(s) being handled hidden on %s; "
                             "SQS may deliver them again", len(held), self._queue_url)
            return
        for failure in answer.get("Failed", []):
            message_id, handle = held[int(failure["Id"])]
            with self._lock:
                still_held = self._held.get(message_id) == handle
            if still_held:  # else it was done meanwhile, and deleted, or handed out again
                logger.warning("could not keep message %s hidden on %s (%s: %s); "
                               "SQS may deliver it again while it is handled", message_id,
                               self._queue_url, failure.get("Code"), failure.get("Message"))


def _id_of(message: dict) -> str:
    return message.get("MessageId") or message["ReceiptHandle"]


def hand_back(sqs, queue_url: str, handles: list[str]) -> int:
    """Make the messages of ``handles`` visible again at once; return how many were."""
    handed = 0
    for start in range(0, len(handles), BATCH_LIMIT):
        group = handles[start:start + BATCH_LIMIT]
        try:
            answer = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, handle in enumerate(group)])
        except Exception:  # noqa: BLE001 - they come back when their timeout ends
            logger.warning("could not hand %d event(s) back to %s; they come back when their "
                           "visibility timeout ends", len(group), queue_url, exc_info=True)
            continue
        handed += len(answer.get("Successful", []))
    return handed


def hand_back_left_over(sqs, queue_url: str, held_file: Path) -> int:
    """Hand back the events a runner that stopped without a word still held; return how many."""
    try:
        handles = list(json.loads(held_file.read_text()).values())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    handed = hand_back(sqs, queue_url, handles)  # those since done and deleted fail: no matter
    held_file.unlink(missing_ok=True)
    return handed
