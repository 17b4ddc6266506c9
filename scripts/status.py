"""`make status BATCH=<id>`: a batch's files, rejects, orphans and publication."""
from __future__ import annotations

import argparse
import json
import os
import sys

from chalicelib.config import Settings
from chalicelib.status import batch_status
from chalicelib.wiring import store_and_reports
from scripts import sandbox


def render(status: dict) -> str:
    lines = [f"Batch {status['batch_id']}"]
    if not status["known"]:
        lines.append("  No file of this batch has been processed (check the batch id and "
                     "the runner's log).")
        return "\n".join(lines)
    lines.append("  Files:")
    for f in status["files"]:
        if f["outcome"] == "not received":
            lines.append(f"    {f['kind']:<10} not received yet")
            continue
        lines.append(f"    {f['kind']:<10} {f['outcome']:<9} {f['rows']:>8} rows  {f['key']}  "
                     f"(ETag {f['etag']}, {f['processed_at']})")
        if f["outcome"] == "rejected":
            lines.append(f"               {f['problem_count']} problem(s); report: {f['report_key']}")
            for p in f["problems"]:
                column = f", column {p['column']}" if p["column"] else ""
                value = f" (value {p['value']!r})" if p["value"] else ""
                lines.append(f"                 line {p['line']}{column}: {p['reason']}{value}")
            lines.append(f"               {f['what_to_do']}")
    if status["waiting_for"]:
        lines.append(f"  Waiting for: {', '.join(status['waiting_for'])}")
    if status["revision"]:
        lines.append(f"  Publication: revision {status['revision']}, {status['publication_state']}"
                     + (f" at {status['published_at']}, {status['messages']} messages"
                        if status["published"] else ""))
        lines.append(f"  Orphans: {status['orphan_order_count']} order(s) without customer, "
                     f"{status['orphan_item_count']} item(s) without order"
                     + (f"; report: {status['batch_report_key']}" if status["batch_report_key"] else ""))
        for o in status["orphan_orders"]:
            lines.append(f"    order {o['order_id']} (customer {o['customer_id']}): {o['reason']}")
        for i in status["orphan_items"]:
            lines.append(f"    item {i['item_id']} (order {i['order_id']}): {i['reason']}")
    else:
        lines.append("  Publication: not published yet")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batch_id")
    parser.add_argument("--stage", default=os.environ.get("STAGE") or "local")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    args = parser.parse_args(argv)
    if not args.batch_id:
        print("error: name the batch: make status BATCH=20230828", file=sys.stderr)
        return 2
    state = sandbox.require_running()
    if state is None:
        return 1
    os.environ.update(state.client_env)
    status = batch_status(*store_and_reports(Settings.for_stage(args.stage)), args.batch_id)
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0 if status["known"] else 1


if __name__ == "__main__":
    sys.exit(main())
