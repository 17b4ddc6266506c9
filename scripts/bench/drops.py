"""The bench's drops: seeded batches of each size, generated once and kept under .sandbox/bench.

A drop is described by the generator's manifest (``scripts.generate``): its
batch id, the row count of each kind, the exact total, and the path of each
kind's file. Its sizes are read from there, and its rows parsed from its files
as the handler parses what it streams from S3.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import cast

from chalicelib.config import PROJECT_DIR
from chalicelib.keys import KINDS
from chalicelib.model import Customer, Item, Order
from chalicelib.parsing import parse_rows
from scripts.generate import generate

DROPS = {  # rows of each kind, in the order of KINDS: customers, orders, items
    "XS": (100, 500, 1_500),
    "S": (1_000, 5_000, 15_000),
    "M": (10_000, 100_000, 300_000),
    "L": (100_000, 1_000_000, 3_000_000),
}
BENCH_DIR = PROJECT_DIR / ".sandbox" / "bench"
# The size of the blocks read from a file, as the handler reads S3's body
# (chalicelib/pipeline.py keeps its own, private, of the same size).
CHUNK = 1024 * 1024


def drop_files(size: str, bench_dir: Path = BENCH_DIR) -> dict:
    """The manifest of the ``size`` drop, generating its files unless they are there already."""
    counts = DROPS[size]
    batch = f"bench-{size.lower()}"
    manifest_path = bench_dir / "data" / batch / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if tuple(manifest[kind] for kind in KINDS) == counts:
            return manifest
    return asdict(generate(bench_dir / "data", batch, *counts, seed=1))


def row_count(manifest: dict) -> int:
    return sum(manifest[kind] for kind in KINDS)


def file_sizes(manifest: dict) -> dict[str, int]:
    """Bytes of each kind's file."""
    return {kind: Path(manifest["files"][kind]).stat().st_size for kind in KINDS}


def file_chunks(path: str) -> Iterator[bytes]:
    """The file's bytes in the blocks the handler gets from S3."""
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            yield block


def drop_rows(manifest: dict) -> tuple[Iterable[Customer], Iterable[Order], Iterable[Item]]:
    """The drop's rows as the handler parses them: customers, orders, items, as a batch joins them.

    Lazily: a file is read as its rows are.
    """
    customers, orders, items = (parse_rows(kind, file_chunks(manifest["files"][kind]), kind)
                                for kind in KINDS)
    # parse_rows yields the row type of the kind it is given; its signature cannot say which.
    return (cast("Iterable[Customer]", customers), cast("Iterable[Order]", orders),
            cast("Iterable[Item]", items))
