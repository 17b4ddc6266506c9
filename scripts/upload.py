"""`make upload DIR=<folder>`: upload a drop to the sandbox with progress, then follow its batch.

    python -m scripts.upload .sandbox/generated/big

uploads every ``customers_*``, ``orders_*`` and ``items_*`` CSV of the folder
(or the files named) to the ingest bucket, showing bytes sent, then waits for
each batch it touched: it prints each file as the pipeline accepts or rejects
it, and the publication with its message count. ``--no-wait`` stops after the
uploads. The exit code is 0 when every batch was published, 1 otherwise.

It follows a batch through its status in DynamoDB (as `make status` shows it)
and never touches the output queue: a ReceiveMessage would take messages from
the queue's consumers and count toward its redrive policy.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from chalicelib.config import Settings
from chalicelib.errors import RejectedInputError
from chalicelib.keys import BatchRef, parse_object_key
from chalicelib.records import FileStatus
from chalicelib.status import NOT_RECEIVED, batch_status
from chalicelib.wiring import records_and_reports
from scripts import cli
from scripts.progress import Progress
from scripts.sandbox import lifecycle


def files_to_upload(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.csv")))
        elif path.is_file():
            files.append(path)
        else:
            raise SystemExit(f"error: {path} is neither a file nor a folder")
    if not files:
        raise SystemExit(f"error: no .csv file in {', '.join(map(str, paths))}; "
                         f"make one with `make generate BATCH=<id>`")
    return files


def upload(s3, bucket: str, files: list[Path]) -> None:
    total = sum(f.stat().st_size for f in files)
    with Progress(total, f"uploading {len(files)} file(s)", unit="bytes") as bar:
        for path in files:
            s3.upload_file(str(path), bucket, path.name, Callback=bar.advance)


def follow(records, reports, batches: list[BatchRef], timeout: float) -> bool:
    """Print each batch's file outcomes and publication as they happen, read from ``records``
    and ``reports`` (``records_and_reports``); True if all published."""
    shown: set[tuple] = set()
    pending = set(batches)
    published: set[BatchRef] = set()
    started = time.monotonic()
    while pending and time.monotonic() - started < timeout:
        for batch in sorted(pending):
            status = batch_status(records, reports, batch)
            for f in status["files"]:
                seen = (batch, f["kind"], f.get("etag"), f["outcome"])
                if f["outcome"] != NOT_RECEIVED and seen not in shown:
                    shown.add(seen)
                    detail = (f"{f['rows']:,} rows" if f["outcome"] == FileStatus.ACCEPTED
                              else f"{f.get('problem_count', 0)} problem(s), see {f.get('report_key')}")
                    print(f"  {time.monotonic() - started:6.1f}s  {batch.key}: {f['kind']} "
                          f"{f['outcome']} ({detail})", flush=True)
            if status["published"]:
                print(f"  {time.monotonic() - started:6.1f}s  {batch.key}: published revision "
                      f"{status['revision']}, {status['messages']:,} messages", flush=True)
                pending.discard(batch)
                published.add(batch)
            elif any(f["outcome"] == FileStatus.REJECTED for f in status["files"]):
                print(f"  {batch.key}: waits for a corrected upload; "
                      f"`make status BATCH={batch.key}` shows why", flush=True)
                pending.discard(batch)
        time.sleep(0.5)
    for batch in sorted(pending):
        print(f"  {batch.key}: not published after {timeout:.0f} s; `make logs` shows what the runner did")
    return published == set(batches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--no-wait", action="store_true", help="do not wait for publication")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait (600)")
    parser.add_argument("--stage", default=os.environ.get("STAGE") or "local")
    args = parser.parse_args(argv)
    files = files_to_upload(args.paths)
    batches = []
    for path in files:
        try:
            # Uploaded under its own name, so into the top of the bucket (folder "").
            batches.append(parse_object_key(path.name).batch)
        except RejectedInputError as exc:
            print(f"note: {exc}", file=sys.stderr)  # uploaded anyway: the pipeline reports it too
    state = lifecycle.require_running()
    if state is None:
        return 1
    settings = Settings.for_stage(args.stage)
    s3 = state.client("s3")
    upload(s3, settings.ingest_bucket, files)
    if args.no_wait:
        return 0
    print("Waiting for the pipeline (Ctrl-C stops waiting, not the pipeline):")
    records, reports = records_and_reports(settings, s3=s3, dynamodb=state.client("dynamodb"))
    return 0 if follow(records, reports, sorted(set(batches)), args.timeout) else 1


if __name__ == "__main__":
    cli.run(main)
