"""`make demo`: the sample batch through the whole flow, as a user would drive it.

Starts the embedded sandbox if it is not running, uploads the three sample files
with the real ``awslocal`` CLI, waits for the customer messages on the output
queue, prints them, and stops what it started.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from chalicelib import aws
from chalicelib.config import PROJECT_DIR
from chalicelib.errors import PipelineError
from chalicelib.messages import from_json
from chalicelib.payloads import read_body
from chalicelib.parsing import decode_lines
from scripts import sandbox
from scripts.logs import format_line

SAMPLE_BATCH = "20230828"
KINDS = ("customers", "orders", "items")


class DemoError(PipelineError):
    pass


def awslocal_command() -> str:
    local = Path(sys.executable).parent / "awslocal"
    return str(local) if local.exists() else (shutil.which("awslocal") or "awslocal")


def upload(files: list[Path], bucket: str, env: dict[str, str]) -> None:
    for path in files:
        command = [awslocal_command(), "s3", "cp", str(path), f"s3://{bucket}/incoming/{path.name}",
                   "--only-show-errors"]
        print(f"  $ awslocal s3 cp {path.relative_to(path.parent.parent)} "
              f"s3://{bucket}/incoming/{path.name}")
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


def collect_messages(sqs, queue_url: str, batch_id: str, expected: int,
                     timeout: float, log: RunnerLog) -> tuple[list[dict], float | None]:
    """Receive (and delete) this batch's messages; leave any other message on the queue."""
    started = time.monotonic()
    first_at = None
    found: dict[str, dict] = {}
    while len(found) < expected and time.monotonic() - started < timeout:
        log.show_new_lines()
        response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1, VisibilityTimeout=30)
        for message in response.get("Messages", []):
            body = from_json(read_body(message["Body"], aws.client("s3")))
            if body.get("batch_id") != batch_id:
                sqs.change_message_visibility(QueueUrl=queue_url, VisibilityTimeout=0,
                                              ReceiptHandle=message["ReceiptHandle"])
                continue
            first_at = first_at or time.monotonic() - started
            found[body["id"]] = body
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if found:
            print(f"  ... {len(found)} of {expected} messages received", flush=True)
    log.show_new_lines()
    return list(found.values()), first_at


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
    state, started_here = sandbox.up(quiet=False)
    try:
        os.environ.update(state.client_env)
        env = {**os.environ, **state.client_env}
        sqs = aws.client("sqs")
        batch_id = SAMPLE_BATCH if started_here else f"{SAMPLE_BATCH}-{time.strftime('%H%M%S')}"
        files = [data_dir / f"{kind}_{SAMPLE_BATCH}.csv" for kind in KINDS]
        with tempfile.TemporaryDirectory() as tmp:
            if batch_id != SAMPLE_BATCH:
                # The sandbox already ran; a new batch id keeps this run's messages apart.
                print(f"The sandbox was already running: uploading the samples as batch {batch_id}.")
                staged = Path(tmp) / "data"
                staged.mkdir()
                for path in files:
                    target = staged / path.name.replace(SAMPLE_BATCH, batch_id)
                    target.write_bytes(path.read_bytes())
                files = sorted(staged.iterdir())
            log = RunnerLog(sandbox.sandbox_dir() / "runner.log")
            print(f"\nUploading batch {batch_id} ({len(files)} files) with awslocal:")
            upload(files, state.ingest_bucket, env)
        expected = customer_count(data_dir / f"customers_{SAMPLE_BATCH}.csv")
        print(f"\nThe event runner invokes the handler for each file; waiting for {expected} "
              f"customer messages on {state.output_queue_url}:")
        messages, first_at = collect_messages(sqs, state.output_queue_url, batch_id, expected,
                                              timeout, log)
        if len(messages) < expected:
            raise DemoError(
                f"only {len(messages)} of {expected} messages arrived within {timeout:.0f}s. "
                f"Look at the event runner's log: {sandbox.sandbox_dir() / 'runner.log'} "
                f"(and `make local-status` for the dead-letter queue)")
        print_messages(messages)
        rows = sum(customer_count(p) for p in (data_dir / f"{k}_{SAMPLE_BATCH}.csv" for k in KINDS))
        print(f"\nSummary: {len(files)} files, {rows} rows, {len(messages)} messages; "
              f"first message {first_at:.2f}s after the uploads; "
              f"total {time.monotonic() - started:.1f}s.")
        return 0
    finally:
        if started_here and not keep:
            sandbox.down(quiet=True)
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
    sys.exit(main())
