"""What a parse hands back besides rows: its counts, and the problems it has found so far."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import Problem

FIX_HINT = "Fix the rows listed and upload the file again under the same key."


@dataclass
class ParseStats:
    """Counts a caller reads after parsing, for its summary log line and metrics."""

    rows_read: int = 0      # data rows, blank lines not counted
    rows_rejected: int = 0  # rows with at least one problem


class ProblemLog:
    """Every problem is counted; the first ``max_reported`` are kept for the report."""

    def __init__(self, max_reported: int) -> None:
        self.max_reported = max_reported
        self.problems: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.problems) < self.max_reported:
            self.problems.append(problem)

    def add_late(self, count: int, found: list[Problem]) -> None:
        """Add ``count`` problems found once the file was read, ``found`` the first of them:
        the report keeps the first ``max_reported`` of all, by line."""
        self.count += count
        self.problems = sorted(self.problems + found, key=lambda p: p.line)[:self.max_reported]
