"""The handler's own work on a drop, with local files in place of S3 and DynamoDB.

Each file is parsed as its invocation streams it (rows dropped, as the store
sends them on in groups of 25); then the publication joins the batch as the
last invocation does (rows parsed again stand in for the store's paged reads)
and writes every message's JSON. No emulator: this is the L drop's memory and
CPU figure, which moto cannot give (its Query reads the whole table for every
page, so an L publication would take many hours on it).

It runs in a process of its own (``launch``), with a temporary directory of its
own, so that its peak RSS and what it spills to disk are the handler's alone.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from chalicelib.aggregation import BatchSummary
from chalicelib.keys import KINDS
from chalicelib.parsing import parse_rows
from chalicelib.partitioning import batch_messages, partition_count
from scripts.bench.drops import drop_rows, file_chunks, row_count
from scripts.bench.launch import IN_PROCESS, run_worker_process
from scripts.sandbox.memory import own_peak_mb


def run_in_process(size: str, bench_dir: Path) -> dict:
    """The figures of the in-process run on the ``size`` drop, from a fresh process."""
    spill_dir = bench_dir / "tmp"
    spill_dir.mkdir(parents=True, exist_ok=True)
    return run_worker_process(["--worker", IN_PROCESS, "--drop", size, "--bench-dir", str(bench_dir)],
                              {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "TMPDIR": str(spill_dir)},
                              f"the in-process worker on the {size} drop", bench_dir / "worker.log")


def run_in_process_worker(manifest: dict, result_path: Path) -> None:
    """The worker's side: run the drop of ``manifest``, write the figures to ``result_path``."""
    import app  # noqa: F401  the handler's process has Chalice and boto3 loaded too
    from chalicelib.messages import to_json

    files = manifest["files"]
    partitions = partition_count(row_count(manifest))
    rss_after: list[float] = []
    spill = DiskSampler(Path(tempfile.gettempdir()))
    spill.start()
    started = time.perf_counter()
    for kind in KINDS:
        for _row in parse_rows(kind, file_chunks(files[kind]), kind):
            pass
        rss_after.append(own_peak_mb())
    ingested = time.perf_counter()
    published = 0
    for message in batch_messages(manifest["batch_id"], 1, *drop_rows(manifest),
                                  partitions=partitions, summary=BatchSummary()):
        to_json(message)
        published += 1
    rss_after.append(own_peak_mb())
    result_path.write_text(json.dumps({
        "ingest_s": ingested - started, "publish_s": time.perf_counter() - ingested,
        "partitions": partitions, "messages": published,
        "tmp_peak_mb": spill.stop(),
        "peak_rss_mb_after_each_step": rss_after, "peak_rss_mb": own_peak_mb()}))


class DiskSampler:
    """The peak size of what the handler spills to its temporary directory (/tmp in Lambda)."""

    def __init__(self, directory: Path, interval_s: float = 0.2) -> None:
        self._directory = directory
        self._interval_s = interval_s
        self._before = self._size()
        self._peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _size(self) -> int:
        total = 0
        for path in self._directory.rglob("*"):
            with contextlib.suppress(OSError):  # removed while walking
                total += path.stat().st_size if path.is_file() else 0
        return total

    def _sample(self) -> None:
        while not self._done.wait(self._interval_s):
            self._peak = max(self._peak, self._size() - self._before)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self._peak / 1024 / 1024
