"""A one-line progress bar on stderr, for long runs (generating data, uploading, waiting).

On a terminal it redraws in place a few times a second; in a log (CI, a pipe)
it writes a line at every quarter, so a log shows progress without a flood.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str, unit: str = "rows", stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.unit = unit
        self.done = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._quarter = 0

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self._tty:
            if now - self._drawn_at >= 0.2:
                self._drawn_at = now
                self._stream.write("\r" + self._line(now))
                self._stream.flush()
        elif self.done * 4 // self.total > self._quarter and self.done < self.total:
            self._quarter = self.done * 4 // self.total
            self._stream.write(self._line(now) + "\n")

    def finish(self) -> None:
        line = self._line(time.monotonic())
        self._stream.write(("\r" + line + "\n") if self._tty else line + "\n")
        self._stream.flush()

    def _line(self, now: float) -> str:
        share = min(self.done / self.total, 1.0)
        bar = "#" * int(share * 30)
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return (f"{self.label:<24} [{bar:<30}] {share:6.1%}  {self.done:,}/{self.total:,} {self.unit}"
                f"  {rate:,.0f}/s")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.finish()
