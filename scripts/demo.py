"""`make demo`: the sample batch through the whole flow, as a user would drive it.

Starts the embedded sandbox if it is not running, uploads the three sample files
with the real ``awslocal`` CLI into a folder of its own
(``demo-<time>-<random>/``), waits for that batch's customer messages on the
output queue, prints them, and stops what it started.

A batch is the three files of one folder with one batch id, and each message
names both (``folder``, ``batch_id``), so the demo picks out its own messages
among any others. It only looks at the queue, through the read-only
``/_aws/sqs/messages`` endpoint, and never receives: a receive counts toward
the redrive policy's maxReceiveCount, and receiving other batches' messages,
even to hand them back, would dead-letter them before their consumers read
them. Its own messages stay on the queue too, for whoever consumes it.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from botocore.exceptions import ClientError

from chalicelib.config import PROJECT_DIR
from chalicelib.errors import PipelineError
from chalicelib.kinds import CUSTOMERS, KINDS
from chalicelib.messages import from_json
from chalicelib.parsing import decode_lines
from chalicelib.payloads import read_body
from scripts import cli
from scripts.logs import format_line
from scripts.sandbox import lifecycle
from scripts.sandbox.state import sandbox_dir
from scripts.tail import peek

SAMPLE_BATCH = "20230828"


class DemoError(PipelineError):
    pass


def awslocal_command() -> str:
    local = Path(sys.executable).parent / "awslocal"
    return str(local) if local.exists() else (shutil.which("awslocal") or "awslocal")


def demo_folder() -> str:
    """A folder no other run uses: the demo's batch is (this folder, the sample batch id)."""
    return f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def upload(files: list[Path], bucket: str, folder: str, env: dict[str, str]) -> None:
    for path in files:
        target = f"s3://{bucket}/{folder}/{path.name}"
        command = [awslocal_command(), "s3", "cp", str(path), target, "--only-show-errors"]
        print(f"  $ awslocal s3 cp {path.relative_to(path.parent.parent)} {target}")
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise DemoError(f"awslocal failed to upload {path.name}: {result.stderr.strip()}")


class RunnerLog:
    """The event runner's log from a point on, as `make logs` shows it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = path.stat().st_size if path.exists() else 0

    def show_new_lines(self) -> None:
        if not self._path.exists():
            return
        with open(self._path, encoding="utf-8", errors="replace") as stream:
            stream.seek(self._offset)
            for line in stream:
                if not line.endswith("\n"):
                    break  # a line still being written: read it next time
                self._offset += len(line.encode("utf-8"))
                shown = format_line(line)
                if shown is not None:
                    print(f"  {shown}", flush=True)


def own_body(message: dict, folder: str, batch_id: str, s3) -> dict | None:
    """The message's body if it belongs to batch ``batch_id`` of ``folder``, else None."""
    attributes = message.get("MessageAttributes") or {}
    for name, wanted in (("batch_id", batch_id), ("folder", folder)):
        # SQS takes no empty attribute value: an absent one (the top of the bucket) says nothing.
        value = (attributes.get(name) or {}).get("StringValue")
        if value and value != wanted:
            return None  # decided without fetching an offloaded body from S3
    try:
        body = from_json(read_body(message["Body"], s3))
    except (ValueError, ClientError):
        return None  # not a customer message: a shared queue may hold anything
    if not isinstance(body, dict) or body.get("folder") != folder or body.get("batch_id") != batch_id:
        return None
    return body


def collect_messages(look: Callable[[], list[dict]], s3, folder: str, batch_id: str, expected: int,
                     timeout: float, log: RunnerLog) -> tuple[list[dict], list[float]]:
    """This batch's messages, looked at without receiving any message of the queue, and
    when the queue says each was sent (epoch seconds; none for a message it gives no time for).

    ``look`` lists the queue's messages (``tail.peek`` of the sandbox's queue).
    """
    started = time.monotonic()
    found: dict[str, tuple[dict, float | None]] = {}
    looked_at: set[str] = set()  # message ids already judged: a body is read once
    reported = 0
    while len(found) < expected and time.monotonic() - started < timeout:
        log.show_new_lines()
        for message in look():
            if message["MessageId"] in looked_at:
                continue
            looked_at.add(message["MessageId"])
            body = own_body(message, folder, batch_id, s3)
            if body is None:
                continue
            known = found.get(body["id"])
            if known is None or body.get("revision", 0) > known[0].get("revision", 0):
                found[body["id"]] = (body, sent_at(message))
        if len(found) != reported:
            reported = len(found)
            print(f"  ... {reported} of {expected} messages on the queue", flush=True)
        if len(found) < expected:
            time.sleep(0.5)
    log.show_new_lines()
    return [body for body, _ in found.values()], [sent for _, sent in found.values() if sent is not None]


def sent_at(message: dict) -> float | None:
    """When the queue received the message, from its SentTimestamp (epoch milliseconds)."""
    sent = str(message.get("Attributes", {}).get("SentTimestamp", ""))
    return int(sent) / 1000 if sent.isdigit() else None


def delay_after_uploads(sent: list[float], uploaded_at: float) -> str:
    """When the messages were sent, from the moment the last upload command returned.

    The queue's send times, not the demo's polling: the messages are often on
    the queue before the demo first looks. SentTimestamp counts milliseconds.
    """
    if not sent:
        return "the queue gave no send times, so how soon the messages came is not known"
    first, last = _relative(min(sent) - uploaded_at), _relative(max(sent) - uploaded_at)
    if len(sent) == 1:
        said = f"the message was sent {first} the last upload returned"
    elif first == last:
        said = f"all {len(sent)} messages were sent {first} the last upload returned"
    else:
        said = f"the first message was sent {first} the last upload returned"
    if min(sent) < uploaded_at:
        said += " (the pipeline was done before the awslocal command had exited)"
    if first != last:
        said += f", the last {last}"
    return said


def _relative(seconds: float) -> str:
    """``840 ms after``, ``1.3 s before``: a duration at the milliseconds a send time has."""
    milliseconds = round(abs(seconds) * 1000)
    amount = ("less than 1 ms" if milliseconds == 0 else f"{milliseconds} ms" if milliseconds < 1000
              else f"{milliseconds / 1000:.1f} s")
    return f"{amount} {'before' if seconds < 0 else 'after'}"


def customer_count(path: Path) -> int:
    lines = [line for line in decode_lines([path.read_bytes()], path.name) if line.strip()]
    return len(lines) - 1


def print_messages(messages: list[dict]) -> None:
    messages.sort(key=lambda m: (len(m["id"]), m["id"]))
    print(f"\n  {'id':<6}{'name':<20}{'orders':>7}{'total':>12}")
    print("  " + "-" * 45)
    for m in messages:
        print(f"  {m['id']:<6}{m['name']:<20}{len(m['orders']):>7}{m['total_amount_spent']:>12}")
    print("\nMessages as published (JSON):")
    for m in messages:
        # Re-rendered from the exact decimals; json.dumps would turn them into floats.
        print("  " + _json(m))


def _json(value) -> str:
    import json
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    return json.dumps(value)


def run(timeout: float, keep: bool) -> int:
    data_dir = PROJECT_DIR / "data"
    started = time.monotonic()
    state, started_here = lifecycle.up(quiet=False)
    try:
        env = {**os.environ, **state.client_env}  # awslocal's: it reaches the sandbox through it
        # Before uploading anything: without the peek endpoint the demo cannot see its
        # messages without receiving every message of the queue, and it will not.
        peek(state.endpoint, state.output_queue_url)
        folder = demo_folder()
        files = [data_dir / f"{kind}_{SAMPLE_BATCH}.csv" for kind in KINDS]
        log = RunnerLog(sandbox_dir() / "runner.log")
        print(f"\nUploading the sample batch {SAMPLE_BATCH} ({len(files)} files) into a folder of "
              f"its own, {folder}/, with awslocal:")
        upload(files, state.ingest_bucket, folder, env)
        uploaded_at = time.time()  # wall clock: the queue's send times are epoch milliseconds
        expected = customer_count(data_dir / f"{CUSTOMERS.name}_{SAMPLE_BATCH}.csv")
        print(f"\nThe event runner invokes the handler for each file; waiting for the {expected} "
              f"customer messages of {folder}/ batch {SAMPLE_BATCH} on {state.output_queue_url} "
              f"(looked at, not received: other batches' messages are left alone):")
        messages, sent = collect_messages(lambda: peek(state.endpoint, state.output_queue_url),
                                          state.client("s3"), folder, SAMPLE_BATCH, expected, timeout,
                                          log)
        if len(messages) < expected:
            raise DemoError(
                f"only {len(messages)} of {expected} messages of {folder}/ batch {SAMPLE_BATCH} "
                f"were on the queue within {timeout:.0f}s. Look at the event runner's log: "
                f"{sandbox_dir() / 'runner.log'} (and `make local-status` for the "
                f"dead-letter queue); a consumer of the queue may also have taken them already")
        print_messages(messages)
        rows = sum(customer_count(p) for p in files)
        print(f"\nSummary: {len(files)} files, {rows} rows, {len(messages)} messages; "
              f"{delay_after_uploads(sent, uploaded_at)}; "
              f"total {time.monotonic() - started:.1f}s.")
        # An emulator the demo started and stops takes its queues with it; otherwise
        # the messages are the queue's consumers' now.
        if not (started_here and not keep and state.mode in ("embedded", "localstack")):
            print(f"The {len(messages)} messages stay on the queue for its consumers; "
                  f"`make tail` shows them.")
        return 0
    finally:
        if started_here and not keep:
            lifecycle.down(quiet=True)
            print("Stopped the sandbox this demo started.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for messages")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running")
    args = parser.parse_args(argv)
    try:
        return run(args.timeout, args.keep)
    except PipelineError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    cli.run(main)
