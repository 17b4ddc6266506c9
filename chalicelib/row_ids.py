"""Which row ids of a file repeat, in memory that does not grow with the file.

The ids of recent rows (up to ``window`` of them) are kept in memory, where a
repeat is found at once together with the line it repeats. When the window is
full, its ids and lines go to local disk (``/tmp`` in Lambda), split by hash
into ``partitions`` files, and the window starts empty again. At the end of
the file each partition is read back on its own to find the repeats that lay
further apart than the window. Memory thus holds one window plus one
partition, whatever the file's length; disk holds about 20 bytes per row.

A repeat found only at the end lets the rows after it through to the store
(the file is rejected all the same); it can even be the next row, when the
window was spilled just before it, so the store never puts one key twice in a
group of 25 (which DynamoDB refuses). After a spill, a third use of an id may
be reported as a repeat of the second use rather than the first.
"""
from __future__ import annotations

import heapq
import shutil
import tempfile
from collections.abc import Iterator
from operator import itemgetter

from chalicelib.spill import SpillFiles

WINDOW = 500_000  # ids in memory: about 65 MB of id strings and map
PARTITIONS = 16


class RowIds:
    def __init__(self, window: int | None = None, partitions: int | None = None,
                 directory: str | None = None) -> None:
        self.window = window or WINDOW
        self.partitions = partitions or PARTITIONS
        self._directory = directory
        self._folder: str | None = None
        self._files: SpillFiles | None = None  # made at the first spill
        # Id -> its line; for the ids of a block added at once, -1 - the block's
        # index in _blocks: one value shared by a block keeps the map small.
        self._recent: dict[str, int] = {}
        self._blocks: list[tuple[int, list[str]]] = []  # (first line, the ids in order)
        self._rejected: set[int] = set()  # lines in the window that already have a problem

    def __contains__(self, row_id: str) -> bool:
        """Whether the id is among the recent ones (the ones on disk are checked at the end)."""
        return row_id in self._recent

    def add_block(self, ids: list[str], first_line: int) -> bool:
        """Record the ids of lines ``first_line``, ``first_line + 1``, ... at once.

        False, recording nothing, if one repeats another of the block or a
        recent id: the caller then goes through them one by one.
        """
        marked = dict.fromkeys(ids, -1 - len(self._blocks))
        if len(marked) != len(ids) or not self._recent.keys().isdisjoint(marked):
            return False
        self._recent.update(marked)
        self._blocks.append((first_line, ids))
        self._spill_if_full()
        return True

    def add(self, row_id: str, line: int, rejected: bool = False) -> int | None:
        """Record one id; if it repeats a recent one, return the line it first appeared on."""
        if rejected:
            self._rejected.add(line)
        first = self._recent.setdefault(row_id, line)
        if first != line:
            return self._line_of(row_id)
        self._spill_if_full()
        return None

    def far_repeats(self, limit: int) -> tuple[int, int, list[tuple[int, str, int]]]:
        """The repeats further apart than the window: how many; how many of their
        lines had no other problem; and the first ``limit`` as (line, id, first line)."""
        files = self._files
        if files is None:
            return 0, 0, []
        self._spill()
        count = newly_rejected = 0
        first_ones: list[tuple[int, str, int]] = []
        try:
            for partition in range(self.partitions):
                found = []
                for line, row_id, first_line, had_problem in self._repeats_in(files, partition):
                    found.append((line, row_id, first_line))
                    newly_rejected += not had_problem
                count += len(found)
                first_ones = heapq.nsmallest(limit, first_ones + found)
        finally:
            self.close()
        return count, newly_rejected, first_ones

    def close(self) -> None:
        """Give back the memory and the disk (the parse is over)."""
        self._recent.clear()
        self._blocks.clear()
        self._rejected.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = self._files = None

    @staticmethod
    def _repeats_in(files: SpillFiles, partition: int) -> Iterator[tuple[int, str, int, bool]]:
        first_lines: dict[str, int] = {}
        # Windows are written in line order, so the first line read for an id is its first.
        for row_id, line, rejected in files.read(partition):
            first = first_lines.setdefault(row_id, int(line))
            if first != int(line):
                yield int(line), row_id, first, rejected == "1"

    def _line_of(self, row_id: str) -> int:
        line = self._recent[row_id]
        if line < 0:
            first_line, ids = self._blocks[-1 - line]
            line = first_line + ids.index(row_id)
        return line

    def _spill_if_full(self) -> None:
        if len(self._recent) >= self.window:
            self._spill()

    def _spill(self) -> None:
        if self._files is None:
            self._folder = tempfile.mkdtemp(prefix="row-ids-", dir=self._directory)
            self._files = SpillFiles(self._folder, "ids", self.partitions)
        self._files.write_all(self._spilled_rows(), itemgetter(0))  # rows are (id, line, rejected)
        self._recent.clear()
        self._blocks.clear()
        self._rejected.clear()

    def _spilled_rows(self) -> Iterator[tuple[str, int, str]]:
        # In line order, so that reading a partition meets an id's first line
        # first: the fast path's blocks come before any row of the exact path.
        for first_line, ids in self._blocks:
            for line, row_id in enumerate(ids, first_line):
                yield row_id, line, ""
        for row_id, line in self._recent.items():
            if line >= 0:
                yield row_id, line, "1" if line in self._rejected else ""

    def __del__(self) -> None:
        self.close()
