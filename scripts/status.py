"""`make status BATCH=<id>`: a batch's files, rejects, orphans and publication.

``BATCH`` is the batch id, after its folder for files under a prefix:
``make status BATCH=partner-a/20230828`` (a batch is its folder's).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from botocore.exceptions import ClientError

from chalicelib.config import Settings
from chalicelib.keys import BATCH_ID_MAX, BATCH_ID_PATTERN, BatchRef, suggested_batch_id
from chalicelib.records import FileStatus
from chalicelib.status import NOT_RECEIVED, batch_status
from chalicelib.wiring import records_and_reports
from scripts import cli
from scripts.sandbox import lifecycle

EXAMPLE_ID = "20230828"


class BatchArgumentError(ValueError):
    """``BATCH`` names no batch: the message says why, with an example."""


def parse_batch(text: str) -> BatchRef:
    """``BATCH`` (``<id>`` or ``<folder>/<id>``) as a batch, or BatchArgumentError saying what is wrong.

    Checked before anything runs: ``pz/`` would otherwise look up a batch with
    an empty id and report it as never seen.
    """
    batch = BatchRef.parse(text)
    where = f"{batch.folder}/" if batch.folder else ""
    if not batch.batch_id:
        if not batch.folder:
            raise BatchArgumentError(f"BATCH={text} names no batch id: e.g. BATCH={EXAMPLE_ID}, or "
                                     f"BATCH=partner-a/{EXAMPLE_ID} for files under partner-a/")
        raise BatchArgumentError(f"BATCH={text} names no batch id after the folder {where}: put the "
                                 f"batch id after the last '/', e.g. BATCH={where}{EXAMPLE_ID}")
    if batch.folder and "" in batch.folder.split("/"):
        fixed = "/".join(part for part in batch.folder.split("/") if part)
        raise BatchArgumentError(f"BATCH={text}: the folder {batch.folder} has an empty part ('//'): "
                                 f"give the key's prefix, e.g. BATCH={fixed}/{batch.batch_id}")
    if not BATCH_ID_PATTERN.fullmatch(batch.batch_id):
        meant = suggested_batch_id(batch.batch_id)
        # The id the partner meant, which uploads named with this one are filed
        # under (keys.parse_object_key); but not for what is a file's name.
        example = (f"BATCH={where}{meant}: uploads named with {batch.batch_id} are listed with that "
                   f"batch" if BATCH_ID_PATTERN.fullmatch(meant) and not meant.endswith(".csv")
                   else f"BATCH={where}{EXAMPLE_ID}")
        raise BatchArgumentError(f"BATCH={text}: {batch.batch_id!r} is not a batch id (letters, digits, "
                                 f"'.' and '-', starting with a letter or digit, at most "
                                 f"{BATCH_ID_MAX} characters), e.g. {example}")
    return batch


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def render(status: dict) -> str:
    batch = BatchRef(status["folder"], status["batch_id"])
    lines = [f"Batch {status['batch_id']} in "
             + (f"folder {batch.folder}/" if batch.folder else "the top of the bucket")]
    misnamed_in_folder = [
        f"  {m['key']}: {m['reason']}; report: {m['report_key']}"
        for m in status["misnamed_in_folder"]]
    if misnamed_in_folder:
        misnamed_in_folder.insert(0, "  Uploads in this folder whose name holds no batch id:")
    if not status["known"]:
        lines.append("  No file of this batch has been processed (check the batch id, the "
                     "folder — BATCH=<folder>/<batch id> for files under a prefix — and "
                     "`make logs`).")
        return "\n".join(lines + misnamed_in_folder)
    lines.append("  Files:")
    for f in status["files"]:
        if f["outcome"] == NOT_RECEIVED:
            lines.append(f"    {f['kind']:<10} not received yet")
            continue
        lines.append(f"    {f['kind']:<10} {f['outcome']:<9} {plural(f['rows'], 'row'):>12}  "
                     f"{f['key']}  (ETag {f['etag']}, {f['processed_at']})")
        if f.get("rows_expired"):
            lines.append(f"               rows expired on {f['rows_kept_until']}: upload the file "
                         f"again under the same key")
        if f["outcome"] == FileStatus.REJECTED:
            lines.append(f"               {plural(f['problem_count'], 'problem')}; "
                         f"report: {f['report_key']}")
            for p in f["problems"]:
                column = f", column {p['column']}" if p["column"] else ""
                value = f" (value {p['value']!r})" if p["value"] else ""
                lines.append(f"                 line {p['line']}{column}: {p['reason']}{value}")
            lines.append(f"               {f['what_to_do']}")
    if status["misnamed"]:
        lines.append("  Misnamed uploads (rename each and upload it again):")
        for m in status["misnamed"]:
            lines.append(f"    {m['key']}: {m['reason']}")
            lines.append(f"               report: {m['report_key']}")
    if status["waiting_for"]:
        lines.append(f"  Waiting for: {', '.join(status['waiting_for'])}")
    if status.get("expired"):
        lines.append(f"  Expired: {status['expired']}")
    if status["revision"] and status["published"]:
        lines.append(f"  Publication: revision {status['revision']}, published at "
                     f"{status['published_at']}, {status['messages']} messages")
    elif status["revision"] and status["sender_stopped"]:
        lines.append(f"  Publication: revision {status['revision']} was claimed at "
                     f"{status['claimed_at']}, but its sender stopped before it finished (its "
                     f"lease ended at {status['lease_ends_at']}). The retry of the event that "
                     f"completed the batch finishes it; if that event was dead-lettered "
                     f"(`make local-status` shows the dead-letter queue, `make logs` why), fix "
                     f"the cause and run `make replay`.")
    elif status["revision"]:
        lines.append(f"  Publication: revision {status['revision']} is being sent (claimed at "
                     f"{status['claimed_at']} by request {status['claimed_by']}; its lease runs "
                     f"until {status['lease_ends_at']} and is renewed while it sends)")
    if status["revision"]:
        for warning in status["warnings"]:
            lines.append(f"  Warning: {warning}")
        lines.append(f"  Orphans: {plural(status['orphan_order_count'], 'order')} without "
                     f"customer, {plural(status['orphan_item_count'], 'item')} without order"
                     + (f"; report: {status['batch_report_key']}" if status["batch_report_key"] else ""))
        for o in status["orphan_orders"]:
            lines.append(f"    order {o['order_id']} (customer {o['customer_id']}): {o['reason']}")
        for i in status["orphan_items"]:
            lines.append(f"    item {i['item_id']} (order {i['order_id']}): {i['reason']}")
    else:
        lines.append("  Publication: not published yet")
    return "\n".join(lines + misnamed_in_folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batch_id")
    parser.add_argument("--stage", default=os.environ.get("STAGE") or "local")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    args = parser.parse_args(argv)
    if not args.batch_id.strip():
        print("error: name the batch: make status BATCH=20230828, or "
              "BATCH=partner-a/20230828 for files under partner-a/", file=sys.stderr)
        return 2
    try:
        batch = parse_batch(args.batch_id)
    except BatchArgumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = lifecycle.require_running()
    if state is None:
        return 1
    settings = Settings.for_stage(args.stage)
    try:
        status = batch_status(*records_and_reports(settings, s3=state.client("s3"),
                                                   dynamodb=state.client("dynamodb")), batch)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code not in ("ResourceNotFoundException", "NoSuchBucket"):
            raise
        print(f"error: the sandbox has no table {settings.table_name} or bucket "
              f"{settings.results_bucket} ({code}): run `make local-up` to put back what is "
              f"missing", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0 if status["known"] else 1


if __name__ == "__main__":
    cli.run(main)
