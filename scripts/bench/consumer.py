"""Reads and deletes the output queue while the pipeline publishes, as downstream would.

The bench checks what it read against the generator's manifest: as many
messages as customers, totalling the drop's exact amount.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from decimal import Decimal

from chalicelib.messages import from_json
from chalicelib.payloads import read_body


class Consumer:
    """Several readers of the output queue, counting each batch's messages and their total.

    Several, because on the emulator one cannot keep up: moto walks a queue's
    whole message list on each send, receive and delete, so a queue that one
    reader lets grow slows every call down until it never catches up
    (measured: one reader had taken 3,050 of 8,000 messages after 580 s; three
    readers kept the queue near empty and took all 10,000 in 20 s). AWS has
    no such cost.
    """

    def __init__(self, queue_url: str, sqs, s3, readers: int = 3) -> None:
        self._queue_url = queue_url
        self._sqs, self._s3 = sqs, s3  # botocore clients are thread-safe: the readers share them
        self._stop_when_empty = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._read, daemon=True) for _ in range(readers)]
        self.counts: Counter[str] = Counter()
        self.totals: dict[str, Decimal] = {}
        self.error: BaseException | None = None
        self.duplicates = 0
        self._seen: set[str] = set()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def is_alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _read(self) -> None:
        try:
            while True:
                # A long visibility timeout: on a busy emulator a delete can come
                # later than SQS's default 30 s, and the message would be received
                # again, and dead-lettered after five receives.
                messages = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=1, VisibilityTimeout=900,
                                                     MessageAttributeNames=["idempotency_key"]
                                                     ).get("Messages", [])
                if not messages:
                    if self._stop_when_empty.is_set():
                        return
                    continue
                bodies = [(m["MessageAttributes"]["idempotency_key"]["StringValue"],
                           from_json(read_body(m["Body"], self._s3))) for m in messages]
                with self._lock:
                    for key, body in bodies:
                        # At least once: a message can arrive twice (moto's receive
                        # is not atomic across readers); count it once, as the
                        # idempotency key tells downstream to.
                        if key in self._seen:
                            self.duplicates += 1
                            continue
                        self._seen.add(key)
                        self.counts[body["batch_id"]] += 1
                        self.totals[body["batch_id"]] = (self.totals.get(body["batch_id"], Decimal("0"))
                                                         + body["total_amount_spent"])
                self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
        except BaseException as exc:  # noqa: BLE001 - reported by finish(), in the main thread
            self.error = exc

    def wait_for(self, batch_id: str, expected: int, stall_seconds: float = 120) -> None:
        """Until ``expected`` messages of the batch are read, or none came for ``stall_seconds``."""
        last_count, last_progress = -1, time.monotonic()
        while self.counts[batch_id] < expected and self.is_alive():
            if self.counts[batch_id] != last_count:
                last_count, last_progress = self.counts[batch_id], time.monotonic()
            elif time.monotonic() - last_progress > stall_seconds:
                return
            time.sleep(0.2)

    def finish(self) -> None:
        self._stop_when_empty.set()
        for thread in self._threads:
            thread.join(timeout=600)
        if self.error:
            raise self.error
