"""Streaming CSV parsing and validation. Pure: bytes in, typed rows out.

The input is an iterable of byte chunks (an S3 body read piece by piece), so a
file is never held in memory whole. Rows are yielded as they are validated;
after the first invalid row no more rows are yielded, but validation goes on to
the end so that the error lists every problem (the first ``max_reported`` of
them, and the total count). A file with any problem is rejected as a whole by
raising ``InvalidFileError`` once the input is exhausted.

Accepted: UTF-8 with or without a byte-order mark, LF or CRLF line ends, quoted
fields, blank lines (skipped), required columns in any order. Extra columns are
allowed and ignored, so partners can add columns without breaking the feed.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Iterable, Iterator

from chalicelib.errors import InvalidFileError, Problem
from chalicelib.model import Customer, Item, Order

_BOM = b"\xef\xbb\xbf"
_AMOUNT = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,2})?")  # ASCII digits only: \d takes any script
MAX_ID_LENGTH = 200
FIX_HINT = "Fix the rows listed and upload the file again under the same key."


@dataclass(frozen=True)
class Schema:
    columns: tuple[str, ...]  # required columns; the first is the row's unique id
    build: Callable[[list[str]], object]
    amount_column: str | None = None


SCHEMAS: dict[str, Schema] = {
    "customers": Schema(("customer_id", "customer_name"),
                        lambda v: Customer(v[0], v[1])),
    "orders": Schema(("order_id", "customer_id", "amount"),
                     lambda v: Order(v[0], v[1], Decimal(v[2])), amount_column="amount"),
    "items": Schema(("item_id", "order_id"),
                    lambda v: Item(v[0], v[1])),
}


@dataclass
class ParseStats:
    """Counts a caller reads after parsing, for its summary log line and metrics."""

    rows_read: int = 0      # data rows, blank lines not counted
    rows_rejected: int = 0  # rows with at least one problem


class _ProblemLog:
    def __init__(self, max_reported: int) -> None:
        self.max_reported = max_reported
        self.problems: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.problems) < self.max_reported:
            self.problems.append(problem)


def decode_lines(chunks: Iterable[bytes], file_name: str) -> Iterator[str]:
    """Text lines, each with its line end, from UTF-8 byte chunks (BOM dropped)."""
    pending = b""
    lines_before = 0
    first = True
    for chunk in chunks:
        data = pending + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            pending = data
            continue
        block, pending = data[:cut], data[cut:]
        if first:
            block, first = _strip_bom(block), False
        yield from _lines(_decode(block, lines_before, file_name))
        lines_before += block.count(b"\n")
    if pending:
        if first:
            pending = _strip_bom(pending)
        yield from _lines(_decode(pending, lines_before, file_name))


def _lines(text: str) -> Iterator[str]:
    # newline="\n": split on "\n" only, keeping it. csv needs the line end, and
    # str.splitlines would also split on characters such as U+2028 that may
    # appear inside a value. StringIO does the splitting in C.
    return iter(io.StringIO(text, newline="\n"))


def _strip_bom(block: bytes) -> bytes:
    return block[len(_BOM):] if block.startswith(_BOM) else block


def _decode(block: bytes, lines_before: int, file_name: str) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = lines_before + block.count(b"\n", 0, exc.start) + 1
        bad = block[exc.start:exc.end]
        raise InvalidFileError(file_name, [Problem(
            line=line, column="", value=bad.hex(" "),
            reason="the file is not valid UTF-8 at this line")],
            hint="Export the file as UTF-8 and upload it again.") from exc


def parse_rows(kind: str, chunks: Iterable[bytes], file_name: str,
               max_reported: int = 1000, stats: ParseStats | None = None) -> Iterator[object]:
    """Yield the typed rows of a ``kind`` file; raise ``InvalidFileError`` at the end if any is bad."""
    stats = stats if stats is not None else ParseStats()
    schema = SCHEMAS[kind]
    reader = csv.reader(decode_lines(chunks, file_name), strict=True)
    log = _ProblemLog(max_reported)
    positions, width = _read_header(reader, schema, file_name)
    id_pos = positions[0]
    amount_pos = positions[schema.columns.index(schema.amount_column)] if schema.amount_column else -1
    names = dict(zip(positions, schema.columns))
    seen: dict[str, int] = {}
    build = schema.build
    # A quoted value may span lines, so a record is reported on the line where
    # it starts (the line after the previous record), not where it ends.
    start = reader.line_num + 1
    amount_index = schema.columns.index(schema.amount_column) if schema.amount_column else -1
    amount_ok = _AMOUNT.fullmatch
    rows_read = rows_rejected = 0
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if len(fields) != width:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # a blank line
                rows_read += 1
                rows_rejected += 1
                log.add(Problem(line, "", ",".join(fields)[:100],
                                f"expected {width} fields as in the header, found {len(fields)}"))
                continue
            rows_read += 1
            values = [fields[pos].strip() for pos in positions]
            # The common case in one expression; the detailed checks below only
            # run for a row that fails it, to say exactly what is wrong.
            if (all(values) and max(map(len, values)) <= MAX_ID_LENGTH
                    and (amount_index < 0 or amount_ok(values[amount_index]))
                    and values[0] not in seen):
                seen[values[0]] = line
                if not log.count:
                    yield build(values)
                continue
            rows_rejected += 1
            for pos, value in zip(positions, values):
                if not value:
                    log.add(Problem(line, names[pos], "", "the value is missing"))
                elif pos == amount_pos and not amount_ok(value):
                    log.add(Problem(line, names[pos], value,
                                    "the amount must be a non-negative decimal number with "
                                    "at most 2 decimal places, e.g. 250.00"))
                elif len(value) > MAX_ID_LENGTH and pos != amount_pos:
                    log.add(Problem(line, names[pos], value[:40] + "...",
                                    f"the value is longer than {MAX_ID_LENGTH} characters"))
            row_id = values[0]
            if row_id:
                first_line = seen.setdefault(row_id, line)
                if first_line != line:
                    log.add(Problem(line, names[id_pos], row_id,
                                    f"duplicate id: already used on line {first_line}"))
    except csv.Error as exc:
        log.add(Problem(start, "", "", f"malformed CSV: {exc}"))
    finally:
        stats.rows_read += rows_read
        stats.rows_rejected += rows_rejected
    if log.count:
        raise InvalidFileError(file_name, log.problems, log.count, hint=FIX_HINT)


def _read_header(reader, schema: Schema, file_name: str) -> tuple[list[int], int]:
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):
            header = next(reader)
    except StopIteration:
        raise InvalidFileError(file_name, [Problem(
            1, "", "", f"the file is empty: expected a header row {','.join(schema.columns)}")],
            hint="Upload the file with its header row and data.") from None
    except csv.Error as exc:
        raise InvalidFileError(file_name, [Problem(reader.line_num, "", "", f"malformed CSV: {exc}")],
                               hint=FIX_HINT) from exc
    line = reader.line_num
    names = [cell.strip().lower() for cell in header]
    problems = []
    for column in schema.columns:
        if column not in names:
            problems.append(Problem(line, column, "",
                                    f"required column is missing from the header "
                                    f"(found: {','.join(names)})"))
        elif names.count(column) > 1:
            problems.append(Problem(line, column, "", "the column appears more than once in the header"))
    if problems:
        raise InvalidFileError(file_name, problems,
                               hint=f"The header must name the columns {','.join(schema.columns)} "
                                    f"(any order; extra columns are ignored).")
    return [names.index(column) for column in schema.columns], len(names)
