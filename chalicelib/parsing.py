"""Streaming CSV parsing and validation. Pure: bytes in, typed rows out.

The input is an iterable of byte chunks (an S3 body read piece by piece), so a
file is never held in memory whole. Rows are yielded as they are validated;
after the first invalid row no more rows are yielded, but validation goes on to
the end so that the error lists every problem (the first ``max_reported`` of
them, and the total count). A file with any problem is rejected as a whole by
raising ``InvalidFileError`` once the input is exhausted. (An id that repeats
one more than 500,000 rows back is found only then, after the rows between
were yielded; the file is rejected all the same.)

Accepted: UTF-8 with or without a byte-order mark, LF or CRLF line ends, quoted
fields, blank lines (skipped), required columns in any order. Extra columns are
allowed and ignored, so partners can add columns without breaking the feed.

Well-formed blocks of plain lines take a fast path (see ``_FileParser``), and
ids are checked for repeats in bounded memory (``row_ids.RowIds``), so neither
speed nor memory suffers on a file of millions of rows.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from itertools import chain
from typing import Iterable, Iterator

from chalicelib.gcpause import gc_paused
from chalicelib.errors import InvalidFileError, Problem
from chalicelib.model import Customer, Item, Order
from chalicelib.row_ids import RowIds

_BOM = b"\xef\xbb\xbf"
_AMOUNT = re.compile(r"[0-9]{1,15}+(?:\.[0-9]{1,2}+)?+")  # ASCII digits only: \d takes any script
MAX_ID_LENGTH = 200
FIX_HINT = "Fix the rows listed and upload the file again under the same key."


@dataclass(frozen=True)
class Schema:
    columns: tuple[str, ...]  # required columns; the first is the row's unique id
    row_type: type
    amount_column: str | None = None

    @property
    def amount_index(self) -> int:
        return self.columns.index(self.amount_column) if self.amount_column else -1

    def build(self, values: list[str]) -> object:
        if self.amount_column:
            values[self.amount_index] = Decimal(values[self.amount_index])
        return self.row_type(*values)

    def build_all(self, columns: list[list[str]]) -> list:
        """The rows of whole columns at once: the loop runs in C, not per row in Python."""
        if self.amount_column:
            columns[self.amount_index] = map(Decimal, columns[self.amount_index])
        return list(map(partial(tuple.__new__, self.row_type), zip(*columns)))


SCHEMAS: dict[str, Schema] = {
    "customers": Schema(("customer_id", "customer_name"), Customer),
    "orders": Schema(("order_id", "customer_id", "amount"), Order, amount_column="amount"),
    "items": Schema(("item_id", "order_id"), Item),
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


def decode_blocks(chunks: Iterable[bytes], file_name: str) -> Iterator[str]:
    """Text blocks of whole lines, each line with its end, from UTF-8 byte chunks (BOM dropped)."""
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
        yield _decode(block, lines_before, file_name)
        lines_before += block.count(b"\n")
    if pending:
        if first:
            pending = _strip_bom(pending)
        yield _decode(pending, lines_before, file_name)


def decode_lines(chunks: Iterable[bytes], file_name: str) -> Iterator[str]:
    """Text lines, each with its line end, from UTF-8 byte chunks (BOM dropped)."""
    for block in decode_blocks(chunks, file_name):
        yield from _lines(block)


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
    parser = _FileParser(SCHEMAS[kind], file_name, max_reported)
    try:
        yield from parser.rows(decode_blocks(chunks, file_name))
        parser.finish()
    finally:
        parser.ids.close()
        if stats is not None:
            stats.rows_read += parser.rows_read
            stats.rows_rejected += parser.rows_rejected
    if parser.log.count:
        raise InvalidFileError(file_name, parser.log.problems, parser.log.count, hint=FIX_HINT)


class _FileParser:
    """One file's parse. Two paths give the same rows and the same problems:

    - the fast path takes a whole block of lines when a regular expression
      shows that every line in it is well formed (no quotes, the header's
      number of fields, required values present, unpadded and not too long,
      amounts valid). It then splits the block into columns and builds its
      rows with loops that run in C: most files are all fast path.
    - the exact path reads the rest of the file row by row with ``csv.reader``
      once a block fails that test, or when the header is unusual (quoted,
      after blank lines). It finds each problem and says where it is.
    """

    def __init__(self, schema: Schema, file_name: str, max_reported: int) -> None:
        self.schema = schema
        self.file_name = file_name
        self.log = _ProblemLog(max_reported)
        self.ids = RowIds()
        self.rows_read = self.rows_rejected = 0
        self.positions: list[int] = []
        self.width = 0
        self._block_pattern: re.Pattern | None = None

    def rows(self, blocks: Iterator[str]) -> Iterator[object]:
        blocks = iter(blocks)
        first = next(blocks, "")
        header, _, rest = first.partition("\n")
        header = header.removesuffix("\r")
        cells = header.split(",")
        if ('"' in header or "\r" in header
                or not any(cell.strip() for cell in cells)
                or max(map(len, cells)) > csv.field_size_limit()):
            # Quoted, blank, or odd: csv.reader reads the header, like everything after it.
            reader = csv.reader(_lines_of(chain([first], blocks)), strict=True)
            self.positions, self.width = _read_header(reader, self.schema, self.file_name)
            yield from self._exact_rows(reader, lines_before=0)
            return
        self.positions, self.width = _check_header(cells, 1, self.schema, self.file_name)
        self._block_pattern = _block_pattern(self.schema, self.positions, self.width)
        lines_before = 1
        for text in chain([rest], blocks):
            rows = self._fast_rows(text, lines_before + 1) if text else []
            if rows is None:
                reader = csv.reader(_lines_of(chain([text], blocks)), strict=True)
                yield from self._exact_rows(reader, lines_before)
                return
            self.rows_read += len(rows)
            lines_before += text.count("\n")
            yield from rows

    def _fast_rows(self, text: str, first_line: int) -> list | None:
        """The rows of a block whose every line is well formed, or None to take the exact path."""
        if '"' in text or "\x00" in text:
            return None
        if "\r" in text:
            if text.count("\r") != text.count("\r\n"):
                return None
            text = text.replace("\r\n", "\n")
        if not self._block_pattern.fullmatch(text):
            return None
        # The pattern has checked the shape, so splitting on commas gives
        # exactly `width` fields per line, in order.
        fields = text.removesuffix("\n").replace("\n", ",").split(",")
        width = self.width
        columns = [fields[pos::width] for pos in self.positions]
        if not self.ids.add_block(columns[0], first_line):
            return None  # a repeated id: the exact path says which, and where
        with gc_paused():
            return self.schema.build_all(columns)

    def finish(self) -> None:
        """Add the repeated ids that lay too far apart to be seen while reading."""
        count, newly_rejected, repeats = self.ids.far_repeats(self.log.max_reported)
        if not count:
            return
        name = self.schema.columns[0]
        found = [Problem(line, name, row_id, f"duplicate id: already used on line {first_line}")
                 for line, row_id, first_line in repeats]
        self.log.count += count
        self.log.problems = sorted(self.log.problems + found, key=lambda p: p.line)[:self.log.max_reported]
        self.rows_rejected += newly_rejected

    def _exact_rows(self, reader, lines_before: int) -> Iterator[object]:
        schema, log, ids = self.schema, self.log, self.ids
        positions, width = self.positions, self.width
        id_pos = positions[0]
        amount_index = schema.amount_index
        amount_pos = positions[amount_index] if amount_index >= 0 else -1
        names = dict(zip(positions, schema.columns))
        amount_ok = _AMOUNT.fullmatch
        # A quoted value may span lines, so a record is reported on the line where
        # it starts (the line after the previous record), not where it ends.
        start = lines_before + reader.line_num + 1
        try:
            for fields in reader:
                line, start = start, lines_before + reader.line_num + 1
                if len(fields) != width:
                    if not fields or (len(fields) == 1 and not fields[0].strip()):
                        continue  # a blank line
                    self.rows_read += 1
                    self.rows_rejected += 1
                    log.add(Problem(line, "", ",".join(fields)[:100],
                                    f"expected {width} fields as in the header, found {len(fields)}"))
                    continue
                self.rows_read += 1
                values = [fields[pos].strip() for pos in positions]
                # The common case in one expression; the detailed checks below only
                # run for a row that fails it, to say exactly what is wrong.
                if (all(values) and max(map(len, values)) <= MAX_ID_LENGTH
                        and (amount_index < 0 or amount_ok(values[amount_index]))
                        and values[0] not in ids):
                    ids.add(values[0], line)
                    if not log.count:
                        yield schema.build(values)
                    continue
                self.rows_rejected += 1
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
                    first_line = ids.add(row_id, line, rejected=True)
                    if first_line is not None:
                        log.add(Problem(line, names[id_pos], row_id,
                                        f"duplicate id: already used on line {first_line}"))
        except csv.Error as exc:
            log.add(Problem(start, "", "", f"malformed CSV: {exc}"))


def _lines_of(blocks: Iterable[str]) -> Iterator[str]:
    for block in blocks:
        yield from _lines(block)


def _block_pattern(schema: Schema, positions: list[int], width: int) -> re.Pattern:
    """Matches a block of lines that the exact path would accept as they are.

    A required value: no quote or comma, not empty, no whitespace at either
    end (so stripping changes nothing), at most MAX_ID_LENGTH characters.
    """
    # Possessive (++, {}+) and a look-behind for the last character: no
    # backtracking, so the whole block is checked in one pass.
    value = rf'[^\s,"][^,"\n]{{0,{MAX_ID_LENGTH - 1}}}+(?<!\s)'
    amount = _AMOUNT.pattern
    other = rf'[^,"\n]{{0,{csv.field_size_limit()}}}+'  # longer, csv.reader refuses the field
    fields = [other] * width
    for index, pos in enumerate(positions):
        fields[pos] = amount if index == schema.amount_index else value
    line = ",".join(fields)
    return re.compile(rf"(?:{line}\n)*(?:{line})?")


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
    return _check_header(header, reader.line_num, schema, file_name)


def _check_header(header: list[str], line: int, schema: Schema,
                  file_name: str) -> tuple[list[int], int]:
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
