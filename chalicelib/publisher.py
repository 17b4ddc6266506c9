"""Sends customer messages to the output queue in batches.

Entries go out in ``SendMessageBatch`` calls of at most 10 entries and at most
the queue's ``MaximumMessageSize`` in total (read from the queue, never assumed),
``senders`` calls at a time: a call is latency bound, so a few in flight
multiply throughput. At most twice that many wait, so memory stays bounded.
A message larger than that limit on its own is offloaded to S3 through the
payload store, and the queue gets a pointer to it (see ``payloads.py``).

Entries SQS reports failed, not by the sender's fault, are sent again, up to
``max_attempts`` times with a growing pause: giving up fails the invocation,
and its retry sends the whole revision again, repeats included.

Calls in flight finish in any order, so a standard queue gets a batch's
messages in no particular order (it promises none anyway); a FIFO queue keeps
each customer's revisions in order, as each customer is one message a revision.
"""
from __future__ import annotations

import hashlib
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from chalicelib.errors import MessageTooLargeError, PublishError
from chalicelib.messages import to_json
from chalicelib.model import CustomerMessage
from chalicelib.payloads import SIZE_ATTRIBUTE, S3PayloadStore

_MAX_ENTRIES = 10  # SendMessageBatch takes at most 10 entries


class SqsPublisher:
    def __init__(self, client, queue_url: str, payloads: S3PayloadStore | None = None,
                 max_attempts: int = 10, sleep: Callable[[float], None] = time.sleep,
                 senders: int = 8) -> None:
        self._client = client
        self._senders = senders
        self._queue_url = queue_url
        self._payloads = payloads
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._size_limit: int | None = None
        self._fifo = queue_url.endswith(".fifo")
        self.offloaded = 0  # messages whose body went to S3, for the summary log

    def size_limit(self) -> int:
        """The queue's own limit: AWS allows 1 MiB, but a queue can be set lower."""
        if self._size_limit is None:
            attributes = self._client.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=["MaximumMessageSize"])["Attributes"]
            self._size_limit = int(attributes["MaximumMessageSize"])
        return self._size_limit

    def publish(self, messages: Iterable[CustomerMessage],
                before_send: Callable[[], None] = lambda: None) -> int:
        """Send every message; return the count. Raises ``PublishError`` if any cannot be sent.

        ``before_send`` runs before every SendMessageBatch call, retries
        included, and stops the publication by raising (the claim's lease check).
        """
        limit = self.size_limit()
        sent = 0
        in_flight: deque[Future] = deque()
        with ThreadPoolExecutor(max_workers=self._senders, thread_name_prefix="send") as pool:
            try:
                for group in self._groups(messages, limit):
                    before_send()
                    in_flight.append(pool.submit(self._send, group, before_send))
                    if len(in_flight) >= 2 * self._senders:
                        sent += in_flight.popleft().result()
                while in_flight:
                    sent += in_flight.popleft().result()
            finally:
                for future in in_flight:  # a failure stops what has not started
                    future.cancel()
        return sent

    def _groups(self, messages: Iterable[CustomerMessage], limit: int) -> Iterable[list[dict]]:
        """The entries of each SendMessageBatch call, in message order."""
        entries: list[dict] = []
        entries_bytes = 0
        for message in messages:
            entry = self._entry(message, len(entries))
            size = _entry_size(entry)
            if size > limit:
                entry = self._offload(message, entry, size)
                size = _entry_size(entry)
                if size > limit:
                    raise MessageTooLargeError(
                        f"the queue's MaximumMessageSize ({limit} bytes) is too small even for "
                        f"a pointer to the payload of customer {message.customer_id} "
                        f"({size} bytes): raise the queue's limit")
            if len(entries) == _MAX_ENTRIES or entries_bytes + size > limit:
                yield entries
                entries, entries_bytes = [], 0
                entry["Id"] = "0"
            entries.append(entry)
            entries_bytes += size
        if entries:
            yield entries

    def _entry(self, message: CustomerMessage, index: int) -> dict:
        entry: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": to_json(message),
            "MessageAttributes": {
                "batch_id": {"DataType": "String", "StringValue": message.batch_id},
                "customer_id": {"DataType": "String", "StringValue": message.customer_id},
                "revision": {"DataType": "Number", "StringValue": str(message.revision)},
                "idempotency_key": {"DataType": "String", "StringValue": message.idempotency_key},
            },
        }
        if message.folder:  # SQS refuses an empty attribute value: none at the top of the bucket
            entry["MessageAttributes"]["folder"] = {"DataType": "String",
                                                    "StringValue": message.folder}
        if self._fifo:
            # Grouped by customer: a customer's revisions stay in order, and
            # different customers are delivered in parallel.
            entry["MessageGroupId"] = message.customer_id
            entry["MessageDeduplicationId"] = hashlib.sha256(
                message.idempotency_key.encode("utf-8")).hexdigest()
        return entry

    def _offload(self, message: CustomerMessage, entry: dict, size: int) -> dict:
        if self._payloads is None:
            raise MessageTooLargeError(
                f"the message for customer {message.customer_id} of "
                f"{message.batch.describe()} "
                f"is {size} bytes, more than the queue's {self.size_limit()}, and no payload "
                f"store is configured to offload it")
        body = entry["MessageBody"]
        entry["MessageBody"] = self._payloads.put(message.batch.key, message.revision,
                                                  message.customer_id, body)
        entry["MessageAttributes"][SIZE_ATTRIBUTE] = {
            "DataType": "Number", "StringValue": str(len(body.encode("utf-8")))}
        self.offloaded += 1
        return entry

    def _send(self, entries: list[dict], before_send: Callable[[], None] = lambda: None) -> int:
        pending = entries
        for attempt in range(self._max_attempts):
            before_send()  # also before the first: a group may wait a while for its thread
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=pending)
            failed = response.get("Failed", [])
            if not failed:
                return len(entries)
            permanent = [f for f in failed if f.get("SenderFault")]
            if permanent:
                raise PublishError("the output queue refused message(s): " + "; ".join(
                    f"{f.get('Code')}: {f.get('Message', '')}" for f in permanent))
            retry_ids = {f["Id"] for f in failed}
            pending = [e for e in pending if e["Id"] in retry_ids]
            self._sleep(random.uniform(0, min(2.0, 0.1 * 2 ** attempt)))
        raise PublishError(f"{len(pending)} message(s) could not be sent to {self._queue_url} "
                           f"after {self._max_attempts} attempts")


def _entry_size(entry: dict) -> int:
    # SQS counts the body and every attribute's name, type and value.
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, attribute in entry["MessageAttributes"].items():
        size += len(name) + len(attribute["DataType"]) + len(attribute["StringValue"].encode("utf-8"))
    return size
