"""Chaos in the delivery of S3 events: some twice, some late (S3 delivers at least once, in any order).

The runner asks ``take(message)`` before it handles an event. A ``duplicate``
puts a copy of the event on the events queue (a copy of S3's own JSON, as
S3's duplicates are), half of them to run at once beside the original, the
others up to 5 s later; a ``late`` event goes
back to the queue for up to 8 s while later events overtake it. Copies carry
the message attribute ``chaos`` and are not made late or duplicated again, nor
is an event received before (S3's faults are in its first delivery).
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from urllib.parse import unquote_plus

from .settings import Chaos

logger = logging.getLogger("event_runner")

COPY_ATTRIBUTE = "chaos"
_MAX_DUPLICATE_DELAY, _MAX_LATE_DELAY = 5, 8


class ChaosDelivery:
    def __init__(self, chaos: Chaos, sqs, queue_url: str) -> None:
        self._chaos = chaos
        self._sqs = sqs
        self._queue_url = queue_url
        self._seen: Counter[str] = Counter()

    def take(self, message: dict) -> bool:
        """Whether to handle ``message`` now; False if it was sent back to come late."""
        copy = message.get("MessageAttributes", {}).get(COPY_ATTRIBUTE, {}).get("StringValue")
        event = _event_of(message["Body"])
        if copy or event is None:
            return True  # a copy comes once more only; a test event is no upload
        if int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")) > 1:
            # Received before: a runner that stopped handed it back, or its visibility ran
            # out. It is Lambda's retry of an event already delivered, which must keep its
            # request id (its publication's lease is that id's), not S3 delivering anew: a
            # late copy would be a new message, so a new event, and the retry would be lost.
            return True
        # The same upload gets the same faults under the same seed; its n-th
        # delivery (an identical re-upload) is a decision of its own.
        self._seen[event] += 1
        about = (event, self._seen[event])
        if self._chaos.happens("late", *about):
            delay = self._chaos.generator("late delay", *about).randint(1, _MAX_LATE_DELAY)
            self._send_copy(message, "late", delay)
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
            logger.warning("CHAOS late: %s is held back %d s; events sent after it may be "
                           "handled first", event, delay)
            return False
        if self._chaos.happens("duplicate", *about):
            # Half the duplicates come at once, to run beside the original: the
            # hardest case for a handler that must not publish twice.
            draw = self._chaos.generator("duplicate delay", *about)
            delay = 0 if draw.random() < 0.5 else draw.randint(1, _MAX_DUPLICATE_DELAY)
            self._send_copy(message, "duplicate", delay)
            logger.warning("CHAOS duplicate: %s will be delivered again in %d s", event, delay)
        return True

    def _send_copy(self, message: dict, kind: str, delay: int) -> None:
        self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=message["Body"],
                               DelaySeconds=delay, MessageAttributes={
                                   COPY_ATTRIBUTE: {"DataType": "String", "StringValue": kind}})


def _event_of(body: str) -> str | None:
    """The upload an S3 notification is about (``key@etag``), or None for anything else."""
    try:
        records = json.loads(body).get("Records") or []
        objects = [record["s3"]["object"] for record in records]
    except (ValueError, AttributeError, KeyError, TypeError):
        return None
    if not objects:
        return None
    return ",".join(f"{unquote_plus(o['key'])}@{o.get('eTag', '')}" for o in objects)
