"""The embedded emulator: moto's server with fixes to moto, plus a read-only view of queue contents.

    python -m scripts.sandbox.emulator -H 127.0.0.1 -p 4566

One module a job:

- ``server``: ``main``, moto's server app with the fixes installed, behind ``peek``;
- ``peek``: ``GET /_aws/sqs/messages?QueueUrl=...``, LocalStack's read-only
  view of a queue's messages (a ReceiveMessage would count towards the
  redrive policy);
- ``fixes``: the table of fixes to moto (what each replaces, with what, why),
  the moto version they were written for, and ``install_fixes``, which
  refuses any other;
- ``sqs``, ``dynamodb``, ``s3``, ``apigateway``: each service's replacements,
  and why moto's own would not do.

The names below are what the rest of the project imports from here; the
replacements are among them so that a test can set one beside moto's own.
"""
from __future__ import annotations

from scripts.sandbox.emulator.apigateway import accepting_swagger_2, import_rest_api
from scripts.sandbox.emulator.dynamodb import one_at_a_time
from scripts.sandbox.emulator.fixes import (
    MOTO_VERSION,
    Patch,
    check_moto_version,
    install_dynamodb_fixes,
    install_fixes,
    install_sqs_fixes,
    instead,
    patches,
)
from scripts.sandbox.emulator.peek import PEEK_PATH, PeekMiddleware, queue_messages
from scripts.sandbox.emulator.s3 import (
    carrying_the_sequencer,
    next_sequencer,
    notifying_once,
    one_write_at_a_time,
    quiet_inside_a_completion,
    with_a_sequencer,
)
from scripts.sandbox.emulator.server import main
from scripts.sandbox.emulator.sqs import (
    MAX_VISIBILITY_MS,
    change_message_visibility,
    counts_unread,
    delete_message_batch,
    holding_the_queue_lock,
    is_message_valid_based_on_retention_period,
    noting_the_receipt_time,
    receive_holding_the_queue_lock,
    with_every_attribute,
)

__all__ = [
    # fixes
    "MOTO_VERSION", "Patch", "check_moto_version", "install_dynamodb_fixes", "install_fixes",
    "install_sqs_fixes", "instead", "patches",
    # peek and server
    "PEEK_PATH", "PeekMiddleware", "main", "queue_messages",
    # the replacements
    "MAX_VISIBILITY_MS", "accepting_swagger_2", "carrying_the_sequencer", "change_message_visibility",
    "counts_unread", "delete_message_batch", "holding_the_queue_lock", "import_rest_api",
    "is_message_valid_based_on_retention_period", "next_sequencer", "noting_the_receipt_time",
    "notifying_once", "one_at_a_time", "one_write_at_a_time", "quiet_inside_a_completion",
    "receive_holding_the_queue_lock", "with_a_sequencer", "with_every_attribute",
]
