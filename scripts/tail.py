"""`make tail`: watch the output queue and print each customer message as it arrives.

By default it only looks: messages are listed through the emulator's
``/_aws/sqs/messages`` endpoint (LocalStack has the same one), which neither
receives nor hides them, so a consumer still gets every one. Without that
endpoint (a plain moto_server behind ``SANDBOX=external``) it stops with an
error instead of falling back to ReceiveMessage: every receive counts toward
the redrive policy's maxReceiveCount, so watching would dead-letter the
messages of batches whose consumers have not read them yet.

``--consume`` (``make tail CONSUME=1``) takes the messages instead: it receives
and deletes every message on the queue, of every batch, so the queue's
consumers never get them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

from botocore.exceptions import ClientError

from chalicelib.errors import PipelineError
from chalicelib.messages import from_json
from chalicelib.payloads import read_body
from scripts import cli
from scripts.sandbox import lifecycle
from scripts.sandbox.emulator import PEEK_PATH
from scripts.sandbox.state import State

HEADER = (f"{'sent':<9}{'folder':<27}{'batch':<14}{'rev':>4}  {'id':<8}{'name':<22}"
          f"{'orders':>6}{'total':>14}")
CONSUME_NOTE = ("CONSUME=1: this receives and deletes every message on the queue, of every batch, "
                "so the queue's consumers will not get them")


class PeekError(PipelineError):
    """The queue's messages cannot be listed without receiving them."""


class PeekUnavailable(PeekError):
    def __init__(self, endpoint: str) -> None:
        super().__init__(
            f"{endpoint} has no {PEEK_PATH} endpoint (the embedded emulator and LocalStack have "
            f"it; a plain moto_server does not), so the output queue cannot be looked at without "
            f"receiving its messages, and this tool does not receive messages it does not own: "
            f"every receive counts toward the redrive policy's maxReceiveCount (5), which would "
            f"push other batches' messages into the dead-letter queue before their consumers "
            f"read them. Run the sandbox on the embedded emulator (`make local-down`, then "
            f"`make local-up SANDBOX=embedded`) or on LocalStack. To take the messages off the "
            f"queue on purpose, `make tail CONSUME=1` receives and deletes every message, of "
            f"every batch.")


def peek(endpoint: str, queue_url: str) -> list[dict]:
    """The queue's messages, visible or in flight, without receiving them.

    Each is ``{"MessageId", "Body", "Attributes": {...}, "MessageAttributes":
    {name: {"DataType", "StringValue"}}}`` whichever emulator answered.
    """
    # ShowInvisible: LocalStack lists in-flight messages only when asked; the embedded one always does.
    url = f"{endpoint}{PEEK_PATH}?" + urllib.parse.urlencode({"QueueUrl": queue_url,
                                                              "ShowInvisible": "true"})
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, content = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, content = exc.code, exc.read()
    except OSError as exc:
        raise PeekError(f"cannot reach {endpoint} to list {queue_url}: {exc}") from exc
    return parse_peek(endpoint, queue_url, status, content)


def parse_peek(endpoint: str, queue_url: str, status: int, content: bytes) -> list[dict]:
    """The messages of a peek endpoint's answer, in one shape; PeekUnavailable if it is none."""
    try:
        document = json.loads(content)
    except ValueError:
        document = None  # a plain moto_server answers with S3's XML "NoSuchBucket"
    if not isinstance(document, dict):
        raise PeekUnavailable(endpoint)
    error = document.get("error") or document.get("ErrorResponse", {}).get("Error", {}).get("Message")
    if status != 200 or error:
        if error:
            raise PeekError(f"{endpoint}{PEEK_PATH} could not list {queue_url}: {error}")
        raise PeekUnavailable(endpoint)
    if "ReceiveMessageResponse" in document:
        # LocalStack nests the list the way its XML API does, and a single message is no list.
        result = (document["ReceiveMessageResponse"] or {}).get("ReceiveMessageResult") or {}
        messages = result.get("Message") or []
    elif "Messages" in document or "messages" in document:
        messages = document.get("Messages", document.get("messages")) or []
    else:
        raise PeekUnavailable(endpoint)
    if isinstance(messages, dict):
        messages = [messages]
    return [_one_shape(m) for m in messages]


def _one_shape(message: dict) -> dict:
    attributes = message.get("Attributes")
    if attributes is None:
        attributes = {a["Name"]: a["Value"] for a in _as_list(message.get("Attribute"))}
    message_attributes = message.get("MessageAttributes")
    if message_attributes is None:
        message_attributes = {a["Name"]: a["Value"] for a in _as_list(message.get("MessageAttribute"))}
    return {"MessageId": message["MessageId"], "Body": message["Body"],
            "Attributes": attributes, "MessageAttributes": message_attributes}


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def full_body(message: dict, s3) -> str:
    """The message's JSON: its body, or the body offloaded to the results bucket that its
    pointer names (as it is, if that cannot be read)."""
    try:
        return read_body(message["Body"], s3)
    except (ValueError, ClientError):
        return message["Body"]


def describe(message: dict, text: str) -> str:
    """One line of the table, for the message and its full body ``text``."""
    try:
        body = from_json(text)
    except ValueError:
        body = None  # a shared queue may hold anything; it is shown, not skipped
    if not isinstance(body, dict):
        return f"{'':<9}(not a customer message) {message['Body'][:80]!r}"
    sent = message.get("Attributes", {}).get("SentTimestamp", "")
    clock = datetime.fromtimestamp(int(sent) / 1000).strftime("%H:%M:%S") if sent.isdigit() else ""
    return (f"{clock:<9}{str(body.get('folder', ''))[:26]:<27}{str(body.get('batch_id', '')):<14}"
            f"{body.get('revision', ''):>4}  "
            f"{str(body.get('id', '')):<8}{str(body.get('name', ''))[:21]:<22}"
            f"{len(body.get('orders', [])):>6}{str(body.get('total_amount_spent', '')):>14}")


def watch(state: State, show_json: bool, consume: bool, once: bool) -> None:
    sqs, s3 = state.client("sqs"), state.client("s3")
    seen: set[str] = set()
    taken = 0
    if consume:
        print(f"{CONSUME_NOTE} ({state.output_queue_url}).", file=sys.stderr, flush=True)
    else:
        peek(state.endpoint, state.output_queue_url)  # refuse before printing anything
    print(HEADER, flush=True)
    try:
        while True:
            if consume:
                messages = sqs.receive_message(QueueUrl=state.output_queue_url,
                                               MaxNumberOfMessages=10,
                                               AttributeNames=["SentTimestamp"],
                                               WaitTimeSeconds=0 if once else 5).get("Messages", [])
            else:
                messages = peek(state.endpoint, state.output_queue_url)
            for message in messages:
                if consume:
                    # Deleted first: a body that fails to print must not stay in flight, received.
                    sqs.delete_message(QueueUrl=state.output_queue_url,
                                       ReceiptHandle=message["ReceiptHandle"])
                    taken += 1
                if message["MessageId"] in seen:
                    continue
                seen.add(message["MessageId"])
                text = full_body(message, s3)
                print(describe(message, text), flush=True)
                if show_json:
                    print(f"         {text}", flush=True)
            if once and not (consume and messages):
                return
            if not consume:
                time.sleep(1)
    finally:
        if consume:
            print(f"Took (deleted) {taken} message(s) off {state.output_queue_url}.",
                  file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Without --consume it only looks (through /_aws/sqs/messages) and takes nothing.")
    parser.add_argument("--json", action="store_true", help="print each message's JSON too")
    parser.add_argument("--consume", action="store_true",
                        help="take the messages: receive and DELETE every message on the queue, "
                             "of every batch (its consumers will not get them)")
    parser.add_argument("--once", action="store_true", help="print what is there and stop")
    args = parser.parse_args(argv)
    state = lifecycle.require_running()
    if state is None:
        return 1
    try:
        watch(state, args.json, args.consume, args.once)
    except KeyboardInterrupt:
        pass
    except PeekError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    cli.run(main)
