"""Rows spilled to local disk (``/tmp`` in Lambda), split by hash into partition files.

Used where a whole file or batch would not fit in memory: each partition is
small enough to be read back and worked on alone.
"""
from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any


class SpillFiles:
    """One CSV file per partition: rows are appended, then each file is read once."""

    def __init__(self, folder: str, name: str, partitions: int) -> None:
        self._paths = [os.path.join(folder, f"{name}-{n}.csv") for n in range(partitions)]

    def write_all(self, rows: Iterable, key: Callable[[Any], str]) -> None:
        """Append ``rows``, each to the partition its key hashes to."""
        # hash() of a str is salted per process, which is all a partition needs:
        # files are written and read by the same invocation.
        with contextlib.ExitStack() as files:  # every one opened is closed, even if one fails
            writers = [csv.writer(files.enter_context(open(path, "a", newline="", encoding="utf-8"))).writerow
                       for path in self._paths]
            count = len(writers)
            for row in rows:
                writers[hash(key(row)) % count](row)

    def read(self, partition: int) -> Iterator[list[str]]:
        """The partition's rows in the order written; the file is removed once read."""
        path = self._paths[partition]
        try:
            with open(path, newline="", encoding="utf-8") as f:
                yield from csv.reader(f)
        finally:
            os.remove(path)  # read once: give the disk back as we go
