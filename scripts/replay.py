"""`make replay`: send dead-lettered events back through the handler.

Run it once the cause of the failures is fixed. Each dead-letter record (the
shape of a Lambda on-failure destination record) is handled like a new
delivery: on success it leaves the dead-letter queue; if it fails again, its
retries run and a fresh record with the new error replaces it. Messages that are
not event records (customer messages a consumer failed on, redriven from the
output queue) are left in place and counted.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field

from chalicelib import aws
from scripts import sandbox
from scripts.event_runner import EventRunner, build_runner

# Long enough that nothing taken in this run is handed out again before it ends.
_SNAPSHOT_VISIBILITY = 900


@dataclass
class ReplayResult:
    replayed: list[str] = field(default_factory=list)
    failed_again: list[str] = field(default_factory=list)
    left_in_place: int = 0


def replay(runner: EventRunner, sqs, dlq_url: str, dry_run: bool = False) -> ReplayResult:
    result = ReplayResult()
    # Take a snapshot first: records written by this run's own failures must not be replayed again.
    snapshot = []
    while True:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=_SNAPSHOT_VISIBILITY).get("Messages", [])
        if not messages:
            break
        snapshot.extend(messages)
    for message in snapshot:
        event = _event_of(message["Body"])
        if event is None or dry_run:
            if event is None:
                result.left_in_place += 1
            else:
                result.replayed.extend(_keys(event))
            sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"],
                                          VisibilityTimeout=0)
            continue
        invocations = runner.handle_message(json.dumps(event))
        for invocation in invocations:
            (result.replayed if invocation.ok else result.failed_again).append(invocation.key)
        # Succeeded, or failed again and was dead-lettered anew: either way this record is done.
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    return result


def _event_of(body: str) -> dict | None:
    try:
        record = json.loads(body)
    except json.JSONDecodeError:
        return None
    payload = record.get("requestPayload") if isinstance(record, dict) else None
    if isinstance(payload, dict) and payload.get("Records"):
        return payload
    return None


def _keys(event: dict) -> list[str]:
    return [r["s3"]["object"]["key"] for r in event["Records"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default=os.environ.get("STAGE") or "local")
    parser.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    args = parser.parse_args(argv)
    state = sandbox.require_running()
    if state is None:
        return 1
    os.environ.update(state.client_env)
    runner = build_runner(args.stage, max_attempts=3, retry_delay=1.0)
    result = replay(runner, aws.client("sqs"), state.dead_letter_queue_url, args.dry_run)
    verb = "Would replay" if args.dry_run else "Replayed"
    print(f"{verb} {len(result.replayed)} event(s)" + (f": {', '.join(result.replayed)}" if result.replayed else "."))
    if result.failed_again:
        print(f"Failed again and dead-lettered anew: {len(result.failed_again)}: "
              f"{', '.join(result.failed_again)}. See {sandbox.sandbox_dir() / 'runner.log'} "
              f"or run `make local-run` to debug.")
    if result.left_in_place:
        print(f"Left {result.left_in_place} message(s) that are not event records "
              f"(customer messages a consumer could not handle) in the dead-letter queue.")
    return 1 if result.failed_again else 0


if __name__ == "__main__":
    sys.exit(main())
