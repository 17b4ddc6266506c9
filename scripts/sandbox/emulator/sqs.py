"""The emulator's replacements for pieces of moto's SQS: the same answers, faster, and safe under threads.

moto makes several passes over the whole queue for every message sent,
received or deleted, each asking the clock once a message, so a consumer
falls behind a producer that sends in parallel and from then on every call
slows down with the queue's length (a 10,000-message batch stalled at about
one call a second). The replacements give the same answers without those
passes. Several moto calls also change a queue's messages without its lock,
so that threads serving requests at once lose, duplicate or resurrect
messages; the replacements hold the lock.

Which moto function each one replaces, and why, is its row in ``fixes.patches()``.
"""
from __future__ import annotations

import functools
import re
import threading

# moto's other internals are imported where they are used, after the version
# check (fixes.check_moto_version), so that a moto in which they moved gets
# the plain message, not an ImportError.
from moto.core.utils import unix_time, unix_time_millis

MAX_VISIBILITY_MS = 43200 * 1000  # 12 hours from a message's receipt


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
    from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
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
def visible_messages(queue) -> list:
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def count_visible(queue) -> int:
    return len(visible_messages(queue))


def count_delayed(queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def count_not_visible(queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def pending_message_groups(queue) -> set[str]:
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
    """``method``, during which this thread's reads of a queue's message counts give 0 without a pass."""
    @functools.wraps(method)
    def call(*args, **kwargs):
        outer = getattr(_counts_unread, "active", False)
        _counts_unread.active = True
        try:
            return method(*args, **kwargs)
        finally:
            _counts_unread.active = outer
    return call


def message_count(counter) -> property:
    """A queue property that counts with ``counter``, except inside ``counts_unread``, where it is 0."""
    def count(queue) -> int:
        return 0 if getattr(_counts_unread, "active", False) else counter(queue)
    return property(count)


# The characters SQS takes in a message body and in attribute values: XML 1.0's.
_REFUSED_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def refused_contents(body: str, attributes: dict | None) -> str | None:
    """SQS's words for the first character it refuses in a message, or None."""
    texts = [("message body", body)] + [
        (f"message attribute {name}", (value or {}).get("StringValue") or "")
        for name, value in (attributes or {}).items()]
    for where, text in texts:
        found = _REFUSED_CHARACTER.search(text or "")
        if found:
            return (f"Invalid binary character '#x{ord(found.group()):X}' was found in the {where}, "
                    f"the set of allowed characters is #x9 | #xA | #xD | #x20-#xD7FF | "
                    f"#xE000-#xFFFD | #x10000-#x10FFFF")
    return None


def sending_as_sqs(send_message):
    """``SQSBackend.send_message`` that refuses what SQS refuses, and reads no counts inside."""
    @functools.wraps(send_message)
    def send(self, queue_name, message_body, message_attributes=None, *args, **kwargs):
        refused = refused_contents(message_body, message_attributes)
        if refused:
            from moto.sqs.exceptions import SQSException
            raise SQSException("InvalidMessageContents", refused)
        return send_message(self, queue_name, message_body, message_attributes, *args, **kwargs)
    return counts_unread(send)


def sending_batches_as_sqs(send_message_batch):
    """``SQSBackend.send_message_batch`` that fails each entry SQS would refuse (a sender's
    fault) and sends the others, and reads no counts inside."""
    @functools.wraps(send_message_batch)
    def send(self, queue_name, entries):
        failed = {}
        for key, entry in entries.items():
            refused = refused_contents(entry["MessageBody"], entry.get("MessageAttributes"))
            if refused:
                failed[key] = {"Id": entry["Id"], "SenderFault": True,
                               "Code": "InvalidMessageContents", "Message": refused}
        if not failed:
            return send_message_batch(self, queue_name, entries)
        rest = {key: entry for key, entry in entries.items() if key not in failed}
        messages, failures = send_message_batch(self, queue_name, rest) if rest else ([], [])
        return messages, failures + list(failed.values())
    return counts_unread(send)
