"""The embedded emulator: moto's server, plus a read-only view of queue contents.

    python -m scripts.sandbox.emulator -H 127.0.0.1 -p 4566

It serves every AWS API moto emulates, exactly as ``moto_server`` does, and
adds ``GET /_aws/sqs/messages?QueueUrl=...``, the developer endpoint LocalStack
has too: it lists a queue's messages without receiving them. A ReceiveMessage
would count towards the redrive policy's maxReceiveCount, so watching the
output queue that way (``make tail``) would push messages into the dead-letter
queue.

moto's SQS makes several passes over the whole queue for every message sent,
received or deleted, each asking the clock once a message, so a consumer falls
behind a producer that sends in parallel and from then on every call slows down
with the queue's length (a 10,000-message batch stalled at about one call a
second). The emulator replaces these with equivalents that give the same
answers:

- the queue's message counts and visible messages read the clock once per
  pass, not twice per message (SendMessage computes all three counts for every
  message it adds, ReceiveMessage lists the visible messages);
- ReceiveMessage checks each message's retention by reading all of the queue's
  attributes, counts included; here it reads the retention period alone;
- DeleteMessageBatch rebuilds the queue's message list for every receipt
  handle; here it takes the batch's messages out in one pass;
- DeleteMessage and DeleteMessageBatch rebuild the message list without the
  queue's lock, so two at once could put back what the other took out
  (deleted, yet in flight, and handed out again when its visibility timeout
  ends); here both hold the lock;
- ReceiveMessage copies the set of a queue's message groups in flight while
  other threads add to and discard from it ("Set changed size during
  iteration"); here it is built from a snapshot of the set;
- ReceiveMessage moves messages received too often to the dead-letter queue
  without the queue's lock, so two receivers at once both moved one (one
  failed with "list.remove(x): x not in list", the dead-letter queue could get
  it twice); here a receive holds the queue's lock, which its long-poll wait
  gives up while it waits, as it did;
- SendMessageBatch gives each message a new attribute (the entry's Id) after
  the message is in the queue, while a ReceiveMessage in another thread may
  be copying it ("dictionary changed size during iteration"); here every
  message has that attribute from the start;
- ChangeMessageVisibility refused any message sent more than 12 hours ago,
  even to make it visible again; SQS's limit is 12 hours of visibility from
  the message's receipt, and here it is that;
- SendMessage and SendMessageBatch read one queue attribute,
  ContentBasedDeduplication, up to four times a message, from a dict that
  moto builds whole each time, with the three message counts in it: three
  passes over the queue each time. Here those calls see the counts as 0, which
  nothing in them reads; everything else reads the real counts.

moto's DynamoDB is not atomic under threads: an UpdateItem on a new key puts
an item with the key alone, then sets its attributes, so a Query from another
thread can see an item with nothing but its key (DynamoDB applies a write
whole). The emulator serves one DynamoDB request at a time, which is what
DynamoDB's per-item atomicity looks like from outside.
"""
from __future__ import annotations

import argparse
import json
import functools
import signal
import sys
import threading

from moto.core.utils import unix_time, unix_time_millis
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                           create_backend_app)
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

PEEK_PATH = "/_aws/sqs/messages"
MAX_VISIBILITY_MS = 43200 * 1000  # 12 hours from a message's receipt


def queue_messages(queue_url: str) -> list[dict] | None:
    """The messages a queue holds (visible or in flight), or None if there is no such queue."""
    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    for regions in list(sqs_backends.values()):
        for backend in list(regions.values()):
            queue = backend.queues.get(name)
            if queue is None:
                continue
            with queue._messages_lock:  # moto keeps no public accessor that includes in-flight ones
                messages = list(queue._messages)
            return [{
                "MessageId": m.id,
                "Body": m.body,
                "Attributes": {"SentTimestamp": str(m.sent_timestamp or ""),
                               "ApproximateReceiveCount": str(m.approximate_receive_count)},
                # moto keeps attributes as the API sends them (StringValue, DataType).
                "MessageAttributes": {k: {"DataType": v.get("DataType", "String"),
                                          "StringValue": v.get("StringValue", "")}
                                      for k, v in m.message_attributes.items()},
            } for m in messages]
    return None


def is_message_valid_based_on_retention_period(self, queue_name: str, message) -> bool:
    """moto's check, reading the retention period rather than every attribute of the queue."""
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > unix_time()


def delete_message_batch(self, queue_name: str, receipts: list[dict]) -> tuple[list[str], list[dict]]:
    """moto's ``SQSBackend.delete_message_batch``, in one pass over the queue, holding the queue's lock.

    moto rebuilds the message list without the lock, so a message another
    thread added meanwhile was lost, and a concurrent delete put back the
    messages this one took out (deleted, yet in flight forever).
    """
    queue = self.get_queue(queue_name)
    wanted = {receipt["ReceiptHandle"] for receipt in receipts}
    found: set[str] = set()
    kept = []
    with queue._messages_lock:
        for message in queue._messages:
            # Never-received messages have no handle; most others have one.
            if message.receipt_handle is None or (message.receipt_handle not in wanted
                                                  and wanted.isdisjoint(message._old_receipt_handles)):
                kept.append(message)
                continue
            handles = wanted.intersection(message.all_receipt_handles)
            found.update(handles)
            queue.pending_messages.discard(message)
            queue.deleted_messages.update(message.all_receipt_handles)
        if found:
            queue._messages = kept
    success, errors = [], []
    for receipt in receipts:
        handle = receipt["ReceiptHandle"]
        if handle in found or handle in queue.deleted_messages:
            success.append(receipt["Id"])
        else:
            errors.append({"Id": receipt["Id"], "SenderFault": True,
                           "Code": "ReceiptHandleIsInvalid",
                           "Message": f'The input receipt handle "{handle}" is not a valid '
                                      f'receipt handle.'})
    return success, errors


def change_message_visibility(self, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
    """moto's ``SQSBackend.change_message_visibility``, with SQS's limit counted from the last receipt."""
    queue = self.get_queue(queue_name)
    with queue._messages_lock:
        for message in queue._messages:
            if not message.had_receipt_handle(receipt_handle):
                continue
            received_at = message.received_at or message.sent_timestamp
            if unix_time_millis() + int(visibility_timeout) * 1000 - received_at > MAX_VISIBILITY_MS:
                raise InvalidParameterValue(
                    f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                    "VisibilityTimeout for the message is beyond the limit [43200 seconds]")
            message.change_visibility(visibility_timeout)
            if message.visible:
                queue.pending_messages.discard(message)
            return
    raise ReceiptHandleIsInvalid()


def receive_holding_the_queue_lock(receive_message):
    """``SQSBackend.receive_message`` while no other thread changes that queue's messages."""
    @functools.wraps(receive_message)
    def receive(self, queue_name: str, *args, **kwargs):
        with self.get_queue(queue_name)._messages_lock:
            return receive_message(self, queue_name, *args, **kwargs)
    return receive


def holding_the_queue_lock(method):
    """A ``Queue`` method that runs while no other thread changes the queue's message list."""
    @functools.wraps(method)
    def locked(queue, *args, **kwargs):
        with queue._messages_lock:  # a Condition over an RLock: add_message may take it again inside
            return method(queue, *args, **kwargs)
    return locked


def noting_the_receipt_time(mark_received):
    """``Message.mark_received`` that also notes when, for the 12-hour visibility limit."""
    @functools.wraps(mark_received)
    def mark(message, *args, **kwargs) -> None:
        mark_received(message, *args, **kwargs)
        message.received_at = unix_time_millis()
    return mark


# Queue properties as moto defines them (models.Message.visible / .delayed), with
# one clock reading for the pass.
def _visible_messages(queue) -> list:
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _count_delayed(queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _count_not_visible(queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def _pending_message_groups(queue) -> set[str]:
    # tuple() copies the set in one step under the GIL; moto's comprehension
    # iterates it in bytecode, between which other threads change it.
    return {message.group_id for message in tuple(queue._pending_messages) if message.group_id is not None}


def with_every_attribute(init):
    """``Message.__init__`` that also sets the attributes set once the message is in the queue.

    ``user_id`` is moto's (SendMessageBatch sets it), ``received_at`` the
    emulator's. Both exist before the message is in the queue, so later they
    only change value, never the size of the attribute dict that a concurrent
    ReceiveMessage's deepcopy iterates.
    """
    @functools.wraps(init)
    def __init__(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        self.user_id = None
        self.received_at = None
    return __init__


_counts_unread = threading.local()


def counts_unread(method):
    """``method``, during which this thread's reads of a queue's message counts give 0 without a pass over the queue."""
    @functools.wraps(method)
    def call(*args, **kwargs):
        outer = getattr(_counts_unread, "active", False)
        _counts_unread.active = True
        try:
            return method(*args, **kwargs)
        finally:
            _counts_unread.active = outer
    return call


def _count(counter) -> property:
    def count(queue) -> int:
        return 0 if getattr(_counts_unread, "active", False) else counter(queue)
    return property(count)


def install_sqs_fixes() -> None:
    Queue.messages = property(_visible_messages)
    Queue.pending_message_groups = property(_pending_message_groups)
    Queue.approximate_number_of_messages = _count(lambda queue: len(_visible_messages(queue)))
    Queue.approximate_number_of_messages_delayed = _count(_count_delayed)
    Queue.approximate_number_of_messages_not_visible = _count(_count_not_visible)
    SQSBackend.send_message = counts_unread(SQSBackend.send_message)
    SQSBackend.send_message_batch = counts_unread(SQSBackend.send_message_batch)
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    SQSBackend.delete_message_batch = delete_message_batch
    SQSBackend.change_message_visibility = change_message_visibility
    Queue.delete_message = holding_the_queue_lock(Queue.delete_message)
    SQSBackend.receive_message = receive_holding_the_queue_lock(SQSBackend.receive_message)
    Message.__init__ = with_every_attribute(Message.__init__)
    Message.mark_received = noting_the_receipt_time(Message.mark_received)


def one_at_a_time(call_action, lock: threading.Lock):
    """``call_action`` that waits for any other DynamoDB request to finish first."""
    @functools.wraps(call_action)
    def serialised(self):
        with lock:
            return call_action(self)
    return serialised


def install_dynamodb_fixes() -> None:
    DynamoHandler.call_action = one_at_a_time(DynamoHandler.call_action, threading.Lock())


class PeekMiddleware:
    def __init__(self, app) -> None:
        self._app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PEEK_PATH and environ.get("REQUEST_METHOD") == "GET":
            request = Request(environ)
            messages = queue_messages(request.args.get("QueueUrl", ""))
            if messages is None:
                response = Response(json.dumps({"error": "no such queue"}), status=404,
                                    mimetype="application/json")
            else:
                response = Response(json.dumps({"Messages": messages}), mimetype="application/json")
            return response(environ, start_response)
        return self._app(environ, start_response)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    install_sqs_fixes()
    install_dynamodb_fixes()
    app = PeekMiddleware(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
