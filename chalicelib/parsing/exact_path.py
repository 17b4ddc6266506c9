"""The exact path: rows one at a time with csv.reader, each problem found and located.

It reads the rest of a file from the first block the fast path cannot take,
or all of it when the header is unusual (quoted, after blank lines). A row
whose required values are plain costs one regular expression match; only a
row that fails it is looked at value by value, to say exactly what is wrong.
"""
from __future__ import annotations

import csv
from collections.abc import Generator, Iterator
from itertools import chain

from chalicelib.errors import InvalidFileError, Problem
from chalicelib.kinds import FileKind
from chalicelib.parsing.outcome import FIX_HINT, ParseStats, ProblemLog
from chalicelib.parsing.records import RecordedLines, quoted_fields, reread
from chalicelib.parsing.rules import CONTROL, Header, repeated_id, row_pattern, value_problems
from chalicelib.row_ids import RowIds

_KEPT_LINES = 4096  # lines of the file kept for the record being read, before the older ones go

# What reading goes on with after a csv.Error: the records left and the line where the first starts.
_Resumed = tuple[Iterator[list[str]], int]


def read_header(reader: Iterator[list[str]], lines: RecordedLines, kind: FileKind,
                file_name: str) -> tuple[list[str], int]:
    """The header's cells (those of the first record that is not blank) and the line where it ends."""
    while True:
        start = lines.next_line()
        try:
            cells = next(reader)
        except StopIteration:
            raise InvalidFileError(file_name, [Problem(
                1, "", "", f"the file is empty: expected a header row {kind.header}")],
                hint="Upload the file with its header row and data.") from None
        except csv.Error as exc:
            again = reread(exc, lines.record(start), iter(lines))
            if again.fields is None:
                _, shown, reason = again.broken
                raise InvalidFileError(file_name, [Problem(start, "", shown, reason)],
                                       hint=FIX_HINT) from exc
            cells = again.fields
        if any(cell.strip() for cell in cells):
            return cells, lines.next_line() - 1


class ExactPath:
    def __init__(self, kind: FileKind, header: Header, log: ProblemLog, ids: RowIds,
                 stats: ParseStats) -> None:
        self._kind = kind
        self._header = header
        self._log = log
        self._ids = ids
        self._stats = stats
        self._clean_row = row_pattern(kind).fullmatch
        self._padded_row = row_pattern(kind, padded=True).fullmatch

    def rows(self, reader: Iterator[list[str]], lines: RecordedLines) -> Iterator[object]:
        """The rows of the records ``reader`` reads from ``lines``, until the file ends or
        its CSV is broken; a record refused only for csv's field limit is read all the same."""
        resumed: _Resumed | None = (reader, lines.next_line())
        while resumed is not None:
            records, start = resumed
            resumed = yield from self._rows_until_error(records, start, reader, lines)

    def _rows_until_error(self, records: Iterator[list[str]], start: int, reader: Iterator[list[str]],
                          lines: RecordedLines) -> Generator[object, None, _Resumed | None]:
        """The rows of ``records``, the first starting on line ``start``, until csv.reader
        raises; then what reading resumes with, if it can."""
        kind, log, ids, stats, read = self._kind, self._log, self._ids, self._stats, lines.read
        positions, width, clean = self._header.positions, self._header.width, self._clean_row
        try:
            for fields in records:
                # A quoted value may span lines, so a record is reported on the line where
                # it starts (the line after the previous record), not where it ends.
                line, start = start, lines.first + len(read)
                if start - lines.first > _KEPT_LINES:
                    lines.forget_before(line)
                if len(fields) != width:
                    self._wrong_width(line, fields)
                    continue
                stats.rows_read += 1
                raw = [fields[pos] for pos in positions]
                # The common case in one match (unpadded values, so quoted or not
                # makes no difference); a row that fails it is looked at closely.
                if clean("\n".join(raw)) and raw[0] not in ids:
                    ids.add(raw[0], line)
                    if not log.count:
                        yield kind.build(raw)
                    continue
                values = self._checked_values(line, fields, raw, lines)
                if values is not None and not log.count:
                    yield kind.build(values)
        except csv.Error as exc:
            return self._resume_after(exc, start, reader, lines)
        return None

    def _wrong_width(self, line: int, fields: list[str]) -> None:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            return  # a blank line
        self._stats.rows_read += 1
        self._stats.rows_rejected += 1
        self._log.add(Problem(line, "", ",".join(fields)[:100],
                              f"expected {self._header.width} fields as in the header, found {len(fields)}"))

    def _checked_values(self, line: int, fields: list[str], raw: list[str],
                        lines: RecordedLines) -> list[str] | None:
        """The values of a row that failed the one match, or None if it has a problem (logged).

        ``raw`` are its required fields as read.
        """
        values = [value.strip() for value in raw]
        fine = False
        if values != raw:
            # Padding around an unquoted value is dropped; a quoted value is literal.
            quoted = quoted_fields("".join(lines.record(line)), fields)
            values = [field if quoted[pos] else value
                      for pos, field, value in zip(self._header.positions, raw, values)]
            # Still one match for a padded row that is fine (control characters
            # looked for as read: stripping drops a tab).
            fine = bool(self._padded_row("\n".join(values))) and not CONTROL.search("".join(raw))
        problems = [] if fine else value_problems(self._kind, line, raw, values)
        row_id = values[0]
        if not problems and row_id not in self._ids:
            self._ids.add(row_id, line)
            return values
        self._reject(line, row_id, problems)
        return None

    def _reject(self, line: int, row_id: str, problems: list[Problem]) -> None:
        self._stats.rows_rejected += 1
        for problem in problems:
            self._log.add(problem)
        if row_id.strip():
            first_line = self._ids.add(row_id, line, rejected=True)
            if first_line is not None:
                self._log.add(repeated_id(self._kind, line, row_id, first_line))

    def _resume_after(self, exc: csv.Error, start: int, reader: Iterator[list[str]],
                      lines: RecordedLines) -> _Resumed | None:
        """The record csv.reader gave up on, read again: over its field limit only, the
        record is read here and the reader goes on after it; else its problem is logged."""
        again = reread(exc, lines.record(start), iter(lines))
        if again.fields is None:
            index, shown, reason = again.broken
            names = self._header.names
            self._log.add(Problem(start, names[index] if index < len(names) else "", shown, reason))
            return None
        return chain([again.fields], reader), start
