"""Rows a second of parse + validate + aggregate, against a bare ``csv.reader`` loop on the same files.

Both on one core, in the bench's own process; the figure is the best of three
rounds, the one least disturbed by whatever else the machine does.
"""
from __future__ import annotations

import csv
import time

from chalicelib.aggregation import BatchSummary
from chalicelib.keys import KINDS
from chalicelib.partitioning import batch_messages, partition_count
from scripts.bench.drops import drop_rows, row_count

ROUNDS = 3


def measure_parsing(manifest: dict, rounds: int = ROUNDS) -> dict:
    """Rows/s of parse + validate + aggregate, and of a bare csv.reader loop, on one core."""
    rows = row_count(manifest)
    files = manifest["files"]
    best_ours = best_reader = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        # As the publication does: in memory, or in partitions for a batch too large for that.
        messages = batch_messages("parse", 1, *drop_rows(manifest), partitions=partition_count(rows),
                                  summary=BatchSummary())
        count = sum(1 for _ in messages)
        best_ours = min(best_ours, time.perf_counter() - started)
        assert count == manifest["customers"]
        started = time.perf_counter()
        for kind in KINDS:
            with open(files[kind], encoding="utf-8", newline="") as handle:
                for _row in csv.reader(handle):
                    pass
        best_reader = min(best_reader, time.perf_counter() - started)
    return {"rows": rows, "parse_rows_per_s": rows / best_ours, "csv_reader_rows_per_s": rows / best_reader}
