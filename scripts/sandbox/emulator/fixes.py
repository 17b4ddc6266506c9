"""The emulator's fixes to moto, in one table, and the moto version they were written for.

Where moto answers differently from AWS, or slowly, the emulator replaces a
piece of moto. Every such fix is one row of the table ``patches()`` returns
(what it replaces, the replacement, why); the replacements themselves live
in one module a service (``sqs``, ``dynamodb``, ``s3``, ``apigateway``).

The fixes replace moto's internals, so they hold for the moto version they
were written for (``MOTO_VERSION``, the one requirements-dev.txt pins), and
``install_fixes`` refuses to install them in any other.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import moto

from scripts.sandbox.emulator import apigateway, dynamodb, s3, sqs
from scripts.sandbox.errors import SandboxError

# The moto that every row of patches() was checked against. Moving to another
# moto means reading each replaced function in the new one first, then
# changing this and the pin in requirements-dev.txt together.
MOTO_VERSION = "5.2.5"


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
    # Imported here, after the version check, so that a moto in which they
    # moved gets the plain message, not an ImportError.
    from moto.apigateway.models import APIGatewayBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3 import notifications
    from moto.s3.models import S3Backend
    from moto.sqs.models import Message, Queue, SQSBackend
    return (
        # SQS's speed. SendMessage computes all three counts for every
        # message it adds, ReceiveMessage lists the visible messages; moto
        # reads the clock twice per message in each of those passes.
        Patch("sqs", Queue, "messages", instead(property(sqs.visible_messages)),
              "the visible messages with one clock reading per pass, not two per message"),
        Patch("sqs", Queue, "approximate_number_of_messages",
              instead(sqs.message_count(sqs.count_visible)),
              "one clock reading per pass, and no pass inside a send (see send_message)"),
        Patch("sqs", Queue, "approximate_number_of_messages_delayed",
              instead(sqs.message_count(sqs.count_delayed)),
              "one clock reading per pass, and no pass inside a send (see send_message)"),
        Patch("sqs", Queue, "approximate_number_of_messages_not_visible",
              instead(sqs.message_count(sqs.count_not_visible)),
              "one clock reading per pass, and no pass inside a send (see send_message)"),
        # SendMessage and SendMessageBatch read one queue attribute,
        # ContentBasedDeduplication, up to four times a message, from a dict
        # that moto builds whole each time, with the three message counts in
        # it: three passes over the queue each time. During those calls the
        # counts read as 0, which nothing in them uses; elsewhere they are real.
        # And moto took any character, where SQS refuses those outside XML 1.0's
        # (InvalidMessageContents; per entry in a batch).
        Patch("sqs", SQSBackend, "send_message", sqs.sending_as_sqs,
              "refuses the characters SQS refuses; no pass over the queue to read one attribute"),
        Patch("sqs", SQSBackend, "send_message_batch", sqs.sending_batches_as_sqs,
              "refuses, entry by entry, the characters SQS refuses; no pass over the queue to read "
              "one attribute"),
        # ReceiveMessage checks each message's retention by reading all of the
        # queue's attributes, counts included.
        Patch("sqs", SQSBackend, "is_message_valid_based_on_retention_period",
              instead(sqs.is_message_valid_based_on_retention_period),
              "reads the retention period alone, not every attribute (counts included) per message"),
        # DeleteMessageBatch rebuilds the queue's message list for every
        # receipt handle, without the queue's lock: two deletes at once could
        # put back what the other took out (deleted, yet in flight, handed out
        # again when its visibility timeout ends).
        Patch("sqs", SQSBackend, "delete_message_batch", instead(sqs.delete_message_batch),
              "one pass for the batch, not one per handle, holding the queue's lock"),
        # DeleteMessage has the same race.
        Patch("sqs", Queue, "delete_message", sqs.holding_the_queue_lock,
              "without the lock, two deletes at once put back what the other took out"),
        # ReceiveMessage moves messages received too often to the dead-letter
        # queue without the queue's lock, so two receivers at once both moved
        # one (one failed with "list.remove(x): x not in list", the dead-letter
        # queue could get it twice). Its long-poll wait gives the lock up
        # while it waits, as before.
        Patch("sqs", SQSBackend, "receive_message", sqs.receive_holding_the_queue_lock,
              "two receives at once both moved a message to the dead-letter queue"),
        # ReceiveMessage copies the set of a queue's message groups in flight
        # while other threads add to and discard from it.
        Patch("sqs", Queue, "pending_message_groups", instead(property(sqs.pending_message_groups)),
              "moto's copy of the set failed with 'Set changed size during iteration'"),
        # SendMessageBatch gives each message a new attribute (the entry's Id)
        # after the message is in the queue, while a ReceiveMessage in another
        # thread may be copying it.
        Patch("sqs", Message, "__init__", sqs.with_every_attribute,
              "an attribute added later broke a concurrent copy: 'dictionary changed size during iteration'"),
        # moto refused to change the visibility of any message sent more than
        # 12 hours ago, even to make it visible again; SQS's limit is 12 hours
        # of visibility from the message's receipt.
        Patch("sqs", Message, "mark_received", sqs.noting_the_receipt_time,
              "notes the receipt time, from which SQS counts the 12-hour visibility limit"),
        Patch("sqs", SQSBackend, "change_message_visibility", instead(sqs.change_message_visibility),
              "SQS's 12-hour limit counts from the receipt; moto's from the send"),
        # An UpdateItem on a new key puts an item with the key alone, then sets
        # its attributes, so a Query from another thread could see an item
        # with nothing but its key (DynamoDB applies a write whole).
        Patch("dynamodb", DynamoHandler, "call_action",
              lambda motos: dynamodb.one_at_a_time(motos, threading.Lock()),
              "one DynamoDB request at a time: moto's writes are not atomic under threads"),
        # One multipart upload: moto's CompleteMultipartUpload stores the
        # object with put_object, which sends ObjectCreated:Put, and then sends
        # ObjectCreated:CompleteMultipartUpload: the pipeline ran twice.
        Patch("s3", S3Backend, "complete_multipart_upload", s3.notifying_once,
              "one ObjectCreated event per upload, S3's CompleteMultipartUpload; moto sent two"),
        Patch("s3", S3Backend, "put_object", s3.quiet_inside_a_completion,
              "sends no event of its own inside a completion; writes one at a time (sequencers)"),
        # S3 events carry a sequencer, which orders a key's events as its
        # writes (the pipeline keeps the latest by it); moto's carry none.
        # Writes go one at a time (see s3._object_writes).
        Patch("s3", S3Backend, "copy_object", s3.one_write_at_a_time,
              "one write at a time: a key's sequencers follow the order of its writes"),
        Patch("s3", S3Backend, "delete_object", s3.one_write_at_a_time,
              "one write at a time: a key's sequencers follow the order of its writes"),
        Patch("s3", notifications, "send_event", s3.with_a_sequencer,
              "each event takes the next sequencer; moto's events carry none"),
        Patch("s3", notifications, "_get_s3_event", s3.carrying_the_sequencer,
              "puts the event's sequencer into s3.object, where S3 puts it"),
        # `chalice deploy` imports its API as Swagger 2.0, without a
        # description: moto 5.2.5 answered HTTP 500 (it reads info.description
        # unconditionally) and takes only OpenAPI 3.
        Patch("apigateway", APIGatewayBackend, "import_rest_api", instead(apigateway.import_rest_api),
              "info.description is optional; moto's KeyError made ImportRestApi a 500"),
        Patch("apigateway", APIGatewayBackend, "put_rest_api", apigateway.accepting_swagger_2,
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
