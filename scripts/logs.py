"""`make logs`: follow the event runner's log, one readable line per invocation.

The log holds the runner's own lines (one per invocation, and each failed
attempt with its reason), the function's structured JSON lines and its EMF
metric records. By default only the runner's lines are shown, but not those of
events no handler matches (such as the pipeline's own report and payload
objects): they invoked nothing. ``--verbose`` adds those, the function's records
(compacted) and tracebacks.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from scripts import cli
from scripts.sandbox.state import sandbox_dir

_RUNNER_LINE = re.compile(r"^\d{4}-\d\d-\d\d (\d\d:\d\d:\d\d),\d+ (\w+) event_runner (.*)$")
# The runner's line for an event that invoked no handler (event_runner.handle_message).
_SKIPPED = re.compile(r": skipped, no handler matches \S+$")
# Lambda's own REPORT line: its figures are on the invocation's line already.
_REPORT = re.compile(r"^REPORT RequestId: ")
_CONTEXT_KEYS = ("batch_id", "file_kind", "object_key", "rows_read", "rows_rejected", "writes",
                 "duration_ms", "revision", "messages", "problem_count", "report_key")


def format_line(line: str, verbose: bool = False) -> str | None:
    """The line as a person should see it, or None to leave it out."""
    line = line.rstrip("\n")
    match = _RUNNER_LINE.match(line)
    if match:
        clock, level, message = match.groups()
        if not verbose and (_SKIPPED.search(message) or _REPORT.match(message)):
            return None
        marked = f"{level} " if level in ("ERROR", "WARNING") else ""
        return f"{clock}  {marked}{message.expandtabs(1) if _REPORT.match(message) else message}"
    if not verbose or not line.strip():
        return None
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return f"          {line}"
        if "_aws" in record:
            names = [m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
            return "          metrics: " + ", ".join(f"{n}={_scalar(record[n])}" for n in names)
        context = " ".join(f"{k}={record[k]}" for k in _CONTEXT_KEYS if k in record)
        return f"          {record.get('level', '')} {record.get('message', '')}  {context}".rstrip()
    return f"          {line}"


def _scalar(value):
    return sum(value) if isinstance(value, list) else value


def follow(stream: TextIO, poll: float = 0.5) -> Iterator[str]:
    while True:
        line = stream.readline()
        if line:
            yield line
        else:
            time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true",
                        help="also skipped events, the function's own records and tracebacks")
    parser.add_argument("--no-follow", action="store_true", help="print what is there and stop")
    args = parser.parse_args(argv)
    path = Path(sandbox_dir()) / "runner.log"
    if not path.exists():
        print(f"No runner log at {path}: start the sandbox with `make local-up`.", file=sys.stderr)
        return 1
    with open(path, encoding="utf-8", errors="replace") as stream:
        lines = stream if args.no_follow else follow(stream)
        try:
            for line in lines:
                shown = format_line(line, args.verbose)
                if shown is not None:
                    print(shown, flush=True)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    cli.run(main)
