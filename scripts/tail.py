"""`make tail`: watch the output queue and print each customer message as it arrives.

By default it only looks: messages are listed through the emulator's
``/_aws/sqs/messages`` endpoint (LocalStack has the same one), which neither
receives nor hides them, so a consumer still gets every one. ``--consume``
receives and deletes them instead, as a consumer would.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime

from chalicelib import aws
from chalicelib.messages import from_json
from chalicelib.payloads import read_body
from scripts import sandbox
from scripts.emulator import PEEK_PATH

HEADER = f"{'sent':<9}{'batch':<14}{'rev':>4}  {'id':<8}{'name':<22}{'orders':>6}{'total':>14}"


def peek(endpoint: str, queue_url: str) -> list[dict]:
    """The queue's messages, without receiving them."""
    url = f"{endpoint}{PEEK_PATH}?" + urllib.parse.urlencode({"QueueUrl": queue_url})
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        document = json.load(response)
    # LocalStack nests the list the way its XML API does; the embedded emulator does not.
    result = document.get("ReceiveMessageResponse", {}).get("ReceiveMessageResult", document)
    messages = result.get("Messages", result.get("Message", [])) or []
    return messages if isinstance(messages, list) else [messages]


def describe(message: dict) -> str:
    body = from_json(read_body(message["Body"], aws.client("s3")))
    sent = message.get("Attributes", {}).get("SentTimestamp", "")
    clock = datetime.fromtimestamp(int(sent) / 1000).strftime("%H:%M:%S") if sent.isdigit() else ""
    return (f"{clock:<9}{str(body.get('batch_id', '')):<14}{body.get('revision', ''):>4}  "
            f"{str(body.get('id', '')):<8}{str(body.get('name', ''))[:21]:<22}"
            f"{len(body.get('orders', [])):>6}{str(body.get('total_amount_spent', '')):>14}")


def watch(state: sandbox.State, show_json: bool, consume: bool, once: bool) -> None:
    sqs = aws.client("sqs")
    seen: set[str] = set()
    print(HEADER, flush=True)
    while True:
        if consume:
            messages = sqs.receive_message(QueueUrl=state.output_queue_url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0 if once else 5).get("Messages", [])
        else:
            messages = peek(state.endpoint, state.output_queue_url)
        for message in messages:
            if message["MessageId"] in seen:
                continue
            seen.add(message["MessageId"])
            print(describe(message), flush=True)
            if show_json:
                print(f"         {message['Body']}", flush=True)
            if consume:
                sqs.delete_message(QueueUrl=state.output_queue_url,
                                   ReceiptHandle=message["ReceiptHandle"])
        if once and not (consume and messages):
            return
        if not consume:
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print each message's JSON too")
    parser.add_argument("--consume", action="store_true", help="receive and delete the messages")
    parser.add_argument("--once", action="store_true", help="print what is there and stop")
    args = parser.parse_args(argv)
    state = sandbox.require_running()
    if state is None:
        return 1
    os.environ.update(state.client_env)
    try:
        watch(state, args.json, args.consume, args.once)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
