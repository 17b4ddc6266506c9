"""The embedded emulator: moto's server with fixes to moto, plus a read-only view of queue contents.

    python -m scripts.sandbox.emulator -H 127.0.0.1 -p 4566

It serves every AWS API moto emulates, as ``moto_server`` does, and adds
``GET /_aws/sqs/messages?QueueUrl=...``, the developer endpoint LocalStack
has too: it lists a queue's messages without receiving them. A ReceiveMessage
would count towards the redrive policy's maxReceiveCount, so watching the
output queue that way (``make tail``) would push messages into the dead-letter
queue.

Where moto answers differently from AWS, or slowly, the emulator replaces a
piece of moto. Every such fix is one row of the table ``patches()`` returns
(what it replaces, the replacement, why), installed by ``install_fixes``:

- SQS: moto makes several passes over the whole queue for every message sent,
  received or deleted, each asking the clock once a message, so a consumer
  falls behind a producer that sends in parallel and from then on every call
  slows down with the queue's length (a 10,000-message batch stalled at about
  one call a second). The replacements give the same answers without those
  passes. Several moto calls also change a queue's messages without its lock,
  so that threads serving requests at once lose, duplicate or resurrect
  messages; the replacements hold the lock.
- DynamoDB: moto is not atomic under threads (an UpdateItem on a new key puts
  the key alone, then sets its attributes); the emulator serves one DynamoDB
  request at a time, which is what DynamoDB's per-item atomicity looks like
  from outside.
- S3: one multipart upload sends one ObjectCreated event, as S3 does (moto
  sends two), and every event carries a sequencer that grows with the writes
  of its key (moto sends none).
- API Gateway: ImportRestApi and PutRestApi take the Swagger 2.0 document
  that ``chalice deploy`` sends (moto takes only OpenAPI 3, and requires a
  description).

The fixes replace moto's internals, so they hold for the moto version they
were written for (``MOTO_VERSION``, the one requirements-dev.txt pins), and
``install_fixes`` refuses to install them in any other.
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import moto
from moto.core.utils import unix_time, unix_time_millis
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

from scripts.sandbox.errors import SandboxError

# The moto that every row of patches() was checked against. Moving to another
# moto means reading each replaced function in the new one first, then
# changing this and the pin in requirements-dev.txt together.
MOTO_VERSION = "5.2.5"

PEEK_PATH = "/_aws/sqs/messages"
MAX_VISIBILITY_MS = 43200 * 1000  # 12 hours from a message's receipt

# moto's internals (all but the clock helpers above) are imported where they are
# used, after the version check, so that a moto in which they moved gets the
# plain message, not an ImportError.


def queue_messages(queue_url: str) -> list[dict] | None:
    """The messages a queue holds (visible or in flight), or None if there is no such queue."""
    from moto.sqs.models import sqs_backends
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


# SQS ------------------------------------------------------------------------


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


# DynamoDB -------------------------------------------------------------------


def one_at_a_time(call_action, lock: threading.Lock):
    """``call_action`` that waits for any other DynamoDB request to finish first."""
    @functools.wraps(call_action)
    def serialised(self):
        with lock:
            return call_action(self)
    return serialised


# S3 -------------------------------------------------------------------------

# Held while an object is stored or removed and its event sent. A key's
# sequencers then follow the order of its writes, as S3's do; and a write
# between another's and its event no longer disposes of the object that event
# describes (moto reads its ETag then: "I/O operation on closed file", a 500,
# no event).
_object_writes = threading.RLock()  # re-entered: a completion calls put_object
_completing = threading.local()
_sending = threading.local()
_sequencers_lock = threading.Lock()
# Starts at the clock, so that a restarted emulator's sequencers still exceed
# the ones it handed out before; 16 hex digits hold it for centuries.
_sequencers = itertools.count(time.time_ns())


def next_sequencer() -> str:
    """A sequencer larger than every one handed out before, in any thread: 16 uppercase hex digits."""
    with _sequencers_lock:
        return f"{next(_sequencers):016X}"


def one_write_at_a_time(write):
    """An ``S3Backend`` method that stores or removes an object and notifies, while no other thread does."""
    @functools.wraps(write)
    def serialised(self, *args, **kwargs):
        with _object_writes:
            return write(self, *args, **kwargs)
    return serialised


def notifying_once(complete_multipart_upload):
    """``S3Backend.complete_multipart_upload``, one write at a time, during which ``put_object`` sends no event."""
    @functools.wraps(complete_multipart_upload)
    def complete(self, *args, **kwargs):
        with _object_writes:
            outer = getattr(_completing, "active", False)
            _completing.active = True
            try:
                return complete_multipart_upload(self, *args, **kwargs)
            finally:
                _completing.active = outer
    return complete


def quiet_inside_a_completion(put_object):
    """``S3Backend.put_object``, one write at a time, sending no event when a multipart completion calls it."""
    @functools.wraps(put_object)
    def put(self, *args, **kwargs):
        with _object_writes:
            if getattr(_completing, "active", False):
                kwargs["disable_notification"] = True  # moto's own switch, as its copy_object uses it
            return put_object(self, *args, **kwargs)
    return put


def with_a_sequencer(send_event):
    """``notifications.send_event`` that takes the event's sequencer first, the same for each destination."""
    @functools.wraps(send_event)
    def send(*args, **kwargs):
        outer = getattr(_sending, "sequencer", None)
        _sending.sequencer = next_sequencer()
        try:
            return send_event(*args, **kwargs)
        finally:
            _sending.sequencer = outer
    return send


def carrying_the_sequencer(get_s3_event):
    """``notifications._get_s3_event`` whose records carry the sequencer of the event being sent."""
    @functools.wraps(get_s3_event)
    def event(*args, **kwargs) -> dict:
        body = get_s3_event(*args, **kwargs)
        sequencer = getattr(_sending, "sequencer", None) or next_sequencer()
        for record in body["Records"]:
            record["s3"]["object"]["sequencer"] = sequencer
        return body
    return event


# API Gateway ----------------------------------------------------------------


def _validate_api_doc(api_doc: dict) -> None:
    """What moto does with failOnWarnings; its validator reads Swagger 2.0 as well as OpenAPI 3."""
    from moto.apigateway.exceptions import InvalidOpenAPIDocumentException
    from moto.apigateway.models import OpenAPIValidationError, validate
    try:
        validate(api_doc)
    except OpenAPIValidationError as exc:
        raise InvalidOpenAPIDocumentException(exc) from exc


def import_rest_api(self, api_doc: dict[str, Any], fail_on_warnings: bool):
    """moto's ``APIGatewayBackend.import_rest_api``, with the description optional, as in API Gateway."""
    if fail_on_warnings:
        _validate_api_doc(api_doc)
    info = api_doc["info"]
    api = self.create_rest_api(name=info["title"], description=info.get("description"))
    self.put_rest_api(api.id, api_doc, fail_on_warnings=False)  # validated above
    return api


def accepting_swagger_2(put_rest_api):
    """``APIGatewayBackend.put_rest_api`` that takes a Swagger 2.0 document too, as API Gateway does."""
    @functools.wraps(put_rest_api)
    def put(self, function_id: str, api_doc: dict[str, Any], fail_on_warnings: bool, mode: str = "merge"):
        if str(api_doc.get("swagger", "")).startswith("2"):
            if fail_on_warnings:
                _validate_api_doc(api_doc)
                fail_on_warnings = False
            # What moto reads after its version check (paths, their methods'
            # response codes and x-amazon-apigateway-integration) is written
            # the same way in both versions.
            api_doc = {**{k: v for k, v in api_doc.items() if k != "swagger"}, "openapi": "3.0.1"}
        return put_rest_api(self, function_id, api_doc, fail_on_warnings=fail_on_warnings, mode=mode)
    return put


# The table ------------------------------------------------------------------


@dataclass(frozen=True)
class Patch:
    """One fix to moto: ``owner.name`` becomes ``replace(moto's own owner.name)``."""

    service: str
    owner: Any  # a class or module of moto's
    name: str
    replace: Callable[[Any], Any]
    why: str


def instead(replacement: Any) -> Callable[[Any], Any]:
    """A ``Patch.replace`` that sets ``replacement`` whatever moto's own was."""
    return lambda _motos: replacement


def patches() -> tuple[Patch, ...]:
    """Every fix the emulator makes to moto ``MOTO_VERSION``, in the order they are installed."""
    from moto.apigateway.models import APIGatewayBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3 import notifications
    from moto.s3.models import S3Backend
    from moto.sqs.models import Message, Queue, SQSBackend
    return (
        # SQS's speed. SendMessage computes all three counts for every
        # message it adds, ReceiveMessage lists the visible messages; moto
        # reads the clock twice per message in each of those passes.
        Patch("sqs", Queue, "messages", instead(property(_visible_messages)),
              "the visible messages with one clock reading per pass, not two per message"),
        Patch("sqs", Queue, "approximate_number_of_messages",
              instead(_count(lambda queue: len(_visible_messages(queue)))),
              "one clock reading per pass, and no pass inside a send (see send_message)"),
        Patch("sqs", Queue, "approximate_number_of_messages_delayed", instead(_count(_count_delayed)),
              "one clock reading per pass, and no pass inside a send (see send_message)"),
        Patch("sqs", Queue, "approximate_number_of_messages_not_visible", instead(_count(_count_not_visible)),
              "one clock reading per pass, and no pass inside a send (see send_message)"),
        # SendMessage and SendMessageBatch read one queue attribute,
        # ContentBasedDeduplication, up to four times a message, from a dict
        # that moto builds whole each time, with the three message counts in
        # it: three passes over the queue each time. During those calls the
        # counts read as 0, which nothing in them uses; elsewhere they are real.
        Patch("sqs", SQSBackend, "send_message", counts_unread,
              "moto passes over the whole queue three times to read one attribute, per message sent"),
        Patch("sqs", SQSBackend, "send_message_batch", counts_unread,
              "moto passes over the whole queue three times to read one attribute, per message sent"),
        # ReceiveMessage checks each message's retention by reading all of the
        # queue's attributes, counts included.
        Patch("sqs", SQSBackend, "is_message_valid_based_on_retention_period",
              instead(is_message_valid_based_on_retention_period),
              "reads the retention period alone, not every attribute (counts included) per message"),
        # DeleteMessageBatch rebuilds the queue's message list for every
        # receipt handle, without the queue's lock: two deletes at once could
        # put back what the other took out (deleted, yet in flight, handed out
        # again when its visibility timeout ends).
        Patch("sqs", SQSBackend, "delete_message_batch", instead(delete_message_batch),
              "one pass for the batch, not one per handle, holding the queue's lock"),
        # DeleteMessage has the same race.
        Patch("sqs", Queue, "delete_message", holding_the_queue_lock,
              "without the lock, two deletes at once put back what the other took out"),
        # ReceiveMessage moves messages received too often to the dead-letter
        # queue without the queue's lock, so two receivers at once both moved
        # one (one failed with "list.remove(x): x not in list", the dead-letter
        # queue could get it twice). Its long-poll wait gives the lock up
        # while it waits, as before.
        Patch("sqs", SQSBackend, "receive_message", receive_holding_the_queue_lock,
              "two receives at once both moved a message to the dead-letter queue"),
        # ReceiveMessage copies the set of a queue's message groups in flight
        # while other threads add to and discard from it.
        Patch("sqs", Queue, "pending_message_groups", instead(property(_pending_message_groups)),
              "moto's copy of the set failed with 'Set changed size during iteration'"),
        # SendMessageBatch gives each message a new attribute (the entry's Id)
        # after the message is in the queue, while a ReceiveMessage in another
        # thread may be copying it.
        Patch("sqs", Message, "__init__", with_every_attribute,
              "an attribute added later broke a concurrent copy: 'dictionary changed size during iteration'"),
        # moto refused to change the visibility of any message sent more than
        # 12 hours ago, even to make it visible again; SQS's limit is 12 hours
        # of visibility from the message's receipt.
        Patch("sqs", Message, "mark_received", noting_the_receipt_time,
              "notes the receipt time, from which SQS counts the 12-hour visibility limit"),
        Patch("sqs", SQSBackend, "change_message_visibility", instead(change_message_visibility),
              "SQS's 12-hour limit counts from the receipt; moto's from the send"),
        # An UpdateItem on a new key puts an item with the key alone, then sets
        # its attributes, so a Query from another thread could see an item
        # with nothing but its key (DynamoDB applies a write whole).
        Patch("dynamodb", DynamoHandler, "call_action", lambda motos: one_at_a_time(motos, threading.Lock()),
              "one DynamoDB request at a time: moto's writes are not atomic under threads"),
        # One multipart upload: moto's CompleteMultipartUpload stores the
        # object with put_object, which sends ObjectCreated:Put, and then sends
        # ObjectCreated:CompleteMultipartUpload: the pipeline ran twice.
        Patch("s3", S3Backend, "complete_multipart_upload", notifying_once,
              "one ObjectCreated event per upload, S3's CompleteMultipartUpload; moto sent two"),
        Patch("s3", S3Backend, "put_object", quiet_inside_a_completion,
              "sends no event of its own inside a completion; writes one at a time (sequencers)"),
        # S3 events carry a sequencer, which orders a key's events as its
        # writes (the pipeline keeps the latest by it); moto's carry none.
        # Writes go one at a time (see _object_writes).
        Patch("s3", S3Backend, "copy_object", one_write_at_a_time,
              "one write at a time: a key's sequencers follow the order of its writes"),
        Patch("s3", S3Backend, "delete_object", one_write_at_a_time,
              "one write at a time: a key's sequencers follow the order of its writes"),
        Patch("s3", notifications, "send_event", with_a_sequencer,
              "each event takes the next sequencer; moto's events carry none"),
        Patch("s3", notifications, "_get_s3_event", carrying_the_sequencer,
              "puts the event's sequencer into s3.object, where S3 puts it"),
        # `chalice deploy` imports its API as Swagger 2.0, without a
        # description: moto 5.2.5 answered HTTP 500 (it reads info.description
        # unconditionally) and takes only OpenAPI 3.
        Patch("apigateway", APIGatewayBackend, "import_rest_api", instead(import_rest_api),
              "info.description is optional; moto's KeyError made ImportRestApi a 500"),
        Patch("apigateway", APIGatewayBackend, "put_rest_api", accepting_swagger_2,
              "takes Swagger 2.0 (what Chalice sends, on redeploy too), not only OpenAPI 3"),
    )


def check_moto_version(installed: str = moto.__version__) -> None:
    """Raise SandboxError unless ``installed`` is the moto the fixes were written for."""
    if installed != MOTO_VERSION:
        raise SandboxError(
            f"moto {installed} is installed, but the embedded emulator's fixes to moto were written "
            f"for moto {MOTO_VERSION} (they replace parts of its internals). Install the pinned "
            f"requirements: `make venv`, or `{sys.executable} -m pip install -r requirements-dev.txt` "
            f"if the environment was changed by hand.")


# What install_fixes set, by (owner, name): installing twice wraps nothing twice.
_installed: dict[tuple[Any, str], Any] = {}


def install_fixes(*services: str, moto_version: str = moto.__version__) -> None:
    """Install the rows of ``patches()`` (those of ``services``, or all), after checking moto's version."""
    check_moto_version(moto_version)
    for patch in patches():
        if services and patch.service not in services:
            continue
        current = getattr(patch.owner, patch.name)
        if _installed.get((patch.owner, patch.name)) is current:
            continue
        replacement = patch.replace(current)
        setattr(patch.owner, patch.name, replacement)
        _installed[(patch.owner, patch.name)] = replacement


def install_sqs_fixes() -> None:
    install_fixes("sqs")


def install_dynamodb_fixes() -> None:
    install_fixes("dynamodb")


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


def main(argv: list[str] | None = None, moto_version: str = moto.__version__) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    try:
        install_fixes(moto_version=moto_version)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                               create_backend_app)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    app = PeekMiddleware(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
