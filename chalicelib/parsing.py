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
allowed and ignored, so partners can add columns without breaking the feed; their
values may be of any length, but for a quoted value that spans lines: past csv's
131,072-character field limit, that is almost always a quote never closed.

A quoted value is taken literally, spaces included; spaces around an unquoted
value are dropped. A required value must not contain a control character
(U+0000 to U+001F, tab and line breaks included, or U+007F): downstream systems
take names and ids as one line of text. Problems are worded for the partner who
reads the report, never in the csv module's terms.

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
MAX_ID_LENGTH = 200
MAX_AMOUNT_DIGITS = 15  # before the decimal point
MAX_AMOUNT_PLACES = 2   # after it
_AMOUNT = re.compile(  # ASCII digits only: \d takes any script
    rf"[0-9]{{1,{MAX_AMOUNT_DIGITS}}}+(?:\.[0-9]{{1,{MAX_AMOUNT_PLACES}}}+)?+")
_UNSIGNED_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # C0 and DEL
_CONTROL_NAMES = ("NUL SOH STX ETX EOT ENQ ACK BEL BS TAB LF VT FF CR SO SI "
                  "DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US").split()
# One field of a record as csv.reader reads it (strict, "" doubles a quote): to
# find again the field where the reader gave up.
_RAW_FIELD = re.compile(r'"(?:[^"]++|"")*+"|[^,"\r\n][^,\r\n]*+|')
# The same grammar a line at a time, for a record read without csv's field limit:
_QUOTED_PART = re.compile(r'(?:[^"]++|"")*+')       # inside quotes, to the closing one or the line end
_UNQUOTED_FIELD = re.compile(r'[^,"\r\n][^,\r\n]*+|')
_LINE_END = re.compile(r"\r*\n?")                   # csv.reader takes any run of CRs before the LF
# A valid value that may have spaces at either end (a quoted value is literal):
# not blank, no control character, at most MAX_ID_LENGTH characters, spaces included.
_PADDED_VALUE = rf"(?=[^\S\n]*+\S)[^\x00-\x1f\x7f]{{1,{MAX_ID_LENGTH}}}+"
FIX_HINT = "Fix the rows listed and upload the file again under the same key."
AMOUNT_RULE = (f"the amount must be a non-negative decimal number: digits 0-9 with an optional '.', "
               f"at most {MAX_AMOUNT_DIGITS} digits before the point and at most "
               f"{MAX_AMOUNT_PLACES} decimal places, e.g. 1234.50")


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
            _check_text(data, file_name)
            block, first = _strip_bom(block), False
        yield _decode(block, lines_before, file_name)
        lines_before += block.count(b"\n")
    if pending:
        if first:
            _check_text(pending, file_name)
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


# What a file that is no UTF-8 text starts with, looked for once, in its first bytes:
# "not valid UTF-8 at line 1" would not tell a partner to save it otherwise or to
# decompress it (and UTF-16 of plain ASCII, NUL bytes and all, is valid UTF-8).
# UTF-32's marks come first: FF FE 00 00 also starts with UTF-16's FF FE.
_SAVE_AS_UTF8 = ("Save the file as UTF-8 CSV (in Excel: Save As, 'CSV UTF-8 (Comma delimited)') and "
                 "upload it again under the same key.")
_SIGNATURES = (
    (b"\xff\xfe\x00\x00", "the file is UTF-32 (it starts with the byte-order mark FF FE 00 00), not UTF-8",
     _SAVE_AS_UTF8),
    (b"\x00\x00\xfe\xff", "the file is UTF-32 (it starts with the byte-order mark 00 00 FE FF), not UTF-8",
     _SAVE_AS_UTF8),
    (b"\xff\xfe", "the file is UTF-16 (it starts with the byte-order mark FF FE), not UTF-8", _SAVE_AS_UTF8),
    (b"\xfe\xff", "the file is UTF-16 (it starts with the byte-order mark FE FF), not UTF-8", _SAVE_AS_UTF8),
    (b"\x1f\x8b", "the file is compressed with gzip (it starts with the bytes 1F 8B), not CSV text",
     "Upload the CSV file uncompressed (gunzip it first) under the same key."),
    (b"PK\x03\x04", "the file is a zip archive (it starts with the bytes PK 03 04), not CSV text; an Excel "
                     "workbook (.xlsx) is one too",
     "Upload the CSV file itself under the same key: unzip the archive, or save the workbook as UTF-8 "
     "CSV (in Excel: Save As, 'CSV UTF-8 (Comma delimited)')."),
)
_SNIFFED = 64  # bytes of the start looked at for UTF-16 without a byte-order mark


def _check_text(head: bytes, file_name: str) -> None:
    """Raise ``InvalidFileError`` saying what the file is if its start shows it is no UTF-8 text."""
    for signature, reason, hint in _SIGNATURES:
        if head.startswith(signature):
            raise InvalidFileError(file_name, [Problem(1, "", signature.hex(" "), reason)], hint=hint)
    sample = head[:_SNIFFED]
    # ASCII text in UTF-16: a NUL byte before (big-endian) or after (little-endian) each character.
    if len(sample) >= 4 and any(not any(sample[nul::2]) and all(sample[1 - nul::2]) for nul in (0, 1)):
        raise InvalidFileError(file_name, [Problem(
            1, "", sample[:8].hex(" "),
            "the file looks like UTF-16 without a byte-order mark (every other byte is NUL, 00), not UTF-8")],
            hint=_SAVE_AS_UTF8)


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
      number of fields, required values present, unpadded, free of control
      characters and not too long, amounts valid). It then splits the block
      into columns and builds its rows with loops that run in C: most files
      are all fast path.
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
        self.header: list[str] = []  # the header's names, stripped and lower case
        self.positions: list[int] = []
        self.width = 0
        self._block_pattern: re.Pattern | None = None
        self._clean_row = _row_pattern(schema, _value_pattern()).fullmatch
        self._padded_row = _row_pattern(schema, _PADDED_VALUE).fullmatch

    def rows(self, blocks: Iterator[str]) -> Iterator[object]:
        blocks = iter(blocks)
        first = next(blocks, "")
        header, _, rest = first.partition("\n")
        header = header.removesuffix("\r")
        cells = header.split(",")
        if '"' in header or "\r" in header or not any(cell.strip() for cell in cells):
            # Quoted, blank, or odd: csv.reader reads the header, like everything after it.
            read: list[str] = []
            lines = _recorded(chain([first], blocks), read)
            reader = csv.reader(lines, strict=True)
            cells, line, pulled = _read_header(reader, lines, read, self.schema, self.file_name)
            self._use_header(cells, line)
            yield from self._exact_rows(reader, lines, read, line_offset=pulled, read_from=1)
            return
        self._use_header(cells, 1)
        self._block_pattern = _block_pattern(self.schema, self.positions, self.width)
        lines_before = 1
        for text in chain([rest], blocks):
            rows = self._fast_rows(text, lines_before + 1) if text else []
            if rows is None:
                read: list[str] = []
                lines = _recorded(chain([text], blocks), read)
                reader = csv.reader(lines, strict=True)
                yield from self._exact_rows(reader, lines, read, line_offset=lines_before,
                                            read_from=lines_before + 1)
                return
            self.rows_read += len(rows)
            lines_before += text.count("\n")
            yield from rows

    def _use_header(self, cells: list[str], line: int) -> None:
        self.header = _check_header(cells, line, self.schema, self.file_name)
        self.positions = [self.header.index(column) for column in self.schema.columns]
        self.width = len(self.header)

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

    def _exact_rows(self, reader, lines: Iterator[str], read: list[str], line_offset: int,
                    read_from: int) -> Iterator[object]:
        """The rows csv.reader reads from ``lines``; ``read`` has the lines it read, which
        ``_recorded`` keeps, the first of them line ``read_from`` of the file.

        ``line_offset`` is the number of lines of the file that ``reader.line_num``
        does not count: those before its first line, and those read past it.
        """
        schema, log, ids = self.schema, self.log, self.ids
        positions, width = self.positions, self.width
        clean, padded, has_control = self._clean_row, self._padded_row, _CONTROL.search
        # A quoted value may span lines, so a record is reported on the line where
        # it starts (the line after the previous record), not where it ends.
        start = line_offset + reader.line_num + 1
        records = reader
        while True:
            try:
                for fields in records:
                    line, start = start, line_offset + reader.line_num + 1
                    if start - read_from > 4096:  # keep this record's lines only
                        del read[:line - read_from]
                        read_from = line
                    if len(fields) != width:
                        if not fields or (len(fields) == 1 and not fields[0].strip()):
                            continue  # a blank line
                        self.rows_read += 1
                        self.rows_rejected += 1
                        log.add(Problem(line, "", ",".join(fields)[:100],
                                        f"expected {width} fields as in the header, found {len(fields)}"))
                        continue
                    self.rows_read += 1
                    raw = [fields[pos] for pos in positions]
                    # The common case in one match (unpadded values, so quoted or not
                    # makes no difference); the checks below only run for a row that
                    # fails it, to say exactly what is wrong.
                    if clean("\n".join(raw)) and raw[0] not in ids:
                        ids.add(raw[0], line)
                        if not log.count:
                            yield schema.build(raw)
                        continue
                    values = [value.strip() for value in raw]
                    fine = False
                    if values != raw:
                        # Padding around an unquoted value is dropped; a quoted value is literal.
                        quoted = _quoted_fields("".join(read[line - read_from:]), fields)
                        values = [field if quoted[pos] else value
                                  for pos, field, value in zip(positions, raw, values)]
                        # Still one match for a padded row that is fine (control
                        # characters looked for as read: stripping drops a tab).
                        fine = padded("\n".join(values)) and not has_control("".join(raw))
                    problems = [] if fine else self._value_problems(line, raw, values)
                    row_id = values[0]
                    if not problems and row_id not in ids:
                        ids.add(row_id, line)
                        if not log.count:
                            yield schema.build(values)
                        continue
                    self.rows_rejected += 1
                    for problem in problems:
                        log.add(problem)
                    if row_id.strip():
                        first_line = ids.add(row_id, line, rejected=True)
                        if first_line is not None:
                            log.add(Problem(line, schema.columns[0], row_id,
                                            f"duplicate id: already used on line {first_line}"))
                return
            except csv.Error as exc:
                # The record csv.reader gave up on, read again: over its field
                # limit only, the record is read here and the reader goes on after it.
                again = _reread(exc, read[start - read_from:], lines)
                if again.fields is None:
                    index, shown, reason = again.broken
                    column = self.header[index] if index < len(self.header) else ""
                    log.add(Problem(start, column, shown, reason))
                    return
                line_offset += again.lines_pulled
                records = chain([again.fields], reader)

    def _value_problems(self, line: int, raw: list[str], values: list[str]) -> list[Problem]:
        """What is wrong with the required values of a row, one problem per value at most.

        ``raw`` are the fields as read, ``values`` what they stand for (an
        unquoted field without its padding).
        """
        problems = []
        amount_index = self.schema.amount_index
        for index, (name, field, value) in enumerate(zip(self.schema.columns, raw, values)):
            control = _CONTROL.search(field)
            if control:
                problems.append(Problem(line, name, _shown(field), _control_reason(field, control.start())))
            elif not value.strip():
                problems.append(Problem(line, name, "", "the value is missing"))
            elif index == amount_index:
                if not _AMOUNT.fullmatch(value):
                    problems.append(Problem(line, name, _shown(value), _amount_reason(value)))
            elif len(value) > MAX_ID_LENGTH:
                problems.append(Problem(line, name, value[:40] + "...",
                                        f"the value is longer than {MAX_ID_LENGTH} characters "
                                        f"(it has {len(value):,}); shorten it"))
        return problems


def _recorded(blocks: Iterable[str], read: list[str]) -> Iterator[str]:
    """The lines of the blocks, each also appended to ``read``.

    csv.reader says neither whether a value was quoted nor where it found the
    CSV broken; the text of the record, kept in ``read``, does.
    """
    keep = read.append
    for block in blocks:
        for line in _lines(block):
            keep(line)
            yield line


def _quoted_fields(text: str, fields: list[str]) -> list[bool]:
    """Which of the fields csv.reader read from a record's text were quoted.

    The reader accepted the text, so a quoted field is its value in quotes with
    each quote doubled, an unquoted one is the value as it is, and one comma
    follows each field but the last.
    """
    quoted, at = [], 0
    for field in fields:
        is_quoted = text.startswith('"', at)
        quoted.append(is_quoted)
        at += len(field) + 1 + (field.count('"') + 2 if is_quoted else 0)
    return quoted


def _malformed_field(text: str) -> tuple[int, int]:
    """The index of the field where csv.reader gave up on a record's text, and where it starts."""
    at = index = 0
    while True:
        end = _RAW_FIELD.match(text, at).end()
        if not text.startswith(",", end):
            return index, at
        at, index = end + 1, index + 1


@dataclass
class _Reread:
    """A record csv.reader gave up on, read again: its fields, or where it breaks and why."""

    fields: list[str] | None
    lines_pulled: int = 0  # lines read past the ones csv.reader had read
    broken: tuple[int, str, str] = (0, "", "")  # field index, the text shown, the reason


def _reread(exc: csv.Error, record_lines: list[str], more: Iterator[str]) -> _Reread:
    """The fields of a record csv.reader refused only for its field limit; else where it breaks."""
    if str(exc).startswith("field larger than field limit"):
        return _read_long_record(record_lines, more)
    text = "".join(record_lines)
    index, at = _malformed_field(text)
    return _Reread(None, broken=(index, _excerpt(text, at), _csv_reason(exc)))


def _read_long_record(lines: list[str], more: Iterator[str]) -> _Reread:
    """A record with a value over csv's field limit, read by csv.reader's rules but that limit.

    csv.reader (strict, "" doubles a quote) refuses any value over
    ``csv.field_size_limit()``, which only a global setting changes. Here a
    value may be of any length, but for a quoted value that spans lines: that
    keeps the limit, so that a quote never closed is not read to the end of the
    file. ``lines`` are the record's lines as far as csv.reader read them, the
    record's first line first; ``more`` gives the lines after them, read while
    a quoted value is open. Runs only for such records, never on the fast path.
    """
    limit = csv.field_size_limit()
    lines = list(lines)
    fields: list[str] = []
    row = at = pulled = 0
    while True:
        line, first_row, begin = lines[row], row, at
        if line.startswith('"', at):
            parts: list[str] = []
            length, at = 0, at + 1
            while True:
                end = _QUOTED_PART.match(line, at).end()
                parts.append(line[at:end].replace('""', '"'))  # a "" never spans lines
                length += len(parts[-1])
                if end < len(line):  # the closing quote
                    at = end + 1
                    break
                if length > limit:
                    return _Reread(None, pulled, (len(fields), _excerpt(lines[first_row], begin),
                                                  _LONG_QUOTED_VALUE))
                if row + 1 == len(lines):
                    following = next(more, None)
                    if following is None:
                        return _Reread(None, pulled, (len(fields), _excerpt(lines[first_row], begin),
                                                      _UNCLOSED_QUOTE))
                    lines.append(following)
                    pulled += 1
                row += 1
                line, at = lines[row], 0
            if row != first_row and length > limit:
                return _Reread(None, pulled, (len(fields), _excerpt(lines[first_row], begin),
                                              _LONG_QUOTED_VALUE))
            fields.append("".join(parts))
        else:
            end = _UNQUOTED_FIELD.match(line, at).end()
            fields.append(line[at:end])
            at = end
        if line.startswith(",", at):
            at += 1
        elif _LINE_END.fullmatch(line, at):
            return _Reread(fields, pulled)
        else:
            reason = _LONE_CR if line[at] == "\r" else _TEXT_AFTER_QUOTE
            return _Reread(None, pulled, (len(fields) - 1, _excerpt(lines[first_row], begin), reason))


def _excerpt(text: str, at: int) -> str:
    """The record's text from a field on, to the end of its line, shortened."""
    shown, line_feed, _ = text[at:].partition("\n")
    if line_feed:
        shown = shown.removesuffix("\r")
    return shown if len(shown) <= 40 else shown[:40] + "..."


def _shown(value: str) -> str:
    """A value as a report shows it: shortened when it is too long to be one."""
    return value if len(value) <= MAX_ID_LENGTH else value[:40] + "..."


def _control_reason(value: str, at: int) -> str:
    """Which control character the value holds first, where, how many more, and what to do."""
    code = ord(value[at])
    crlf = value.startswith("\r\n", at)
    name = "DEL" if code == 0x7F else _CONTROL_NAMES[code]
    if crlf:
        what = "a line break (U+000D U+000A, CRLF)"
    elif value[at] in "\r\n":
        what = f"a line break (U+{code:04X}, {name})"
    else:
        what = f"a control character (U+{code:04X}, {name})"
    reason = f"the value contains {what} at character {at + 1}"
    more = len(_CONTROL.findall(value, at)) - 1 - crlf
    if more:
        reason += f" and {more} more control character{'s' if more > 1 else ''}"
    reason += "; remove them" if more else "; remove it"
    if value[at] in "\r\n":
        reason += " (a value must be on one line)"
    return reason


def _amount_reason(value: str) -> str:
    """The rule the amount breaks: the number of digits when that is all, else the whole rule."""
    digits = _UNSIGNED_DECIMAL.fullmatch(value)
    if digits:
        before, after = len(digits[1]), len(digits[2] or "")
        if before > MAX_AMOUNT_DIGITS and after > MAX_AMOUNT_PLACES:
            return (f"the amount has {before} digits before the decimal point and {after} decimal "
                    f"places; at most {MAX_AMOUNT_DIGITS} digits before the point and at most "
                    f"{MAX_AMOUNT_PLACES} decimal places are allowed")
        if before > MAX_AMOUNT_DIGITS:
            return (f"the amount has {before} digits before the decimal point; "
                    f"at most {MAX_AMOUNT_DIGITS} are allowed")
        if after > MAX_AMOUNT_PLACES:
            return (f"the amount has {after} decimal places; "
                    f"at most {MAX_AMOUNT_PLACES} decimal places are allowed")
    return AMOUNT_RULE


_TEXT_AFTER_QUOTE = ('a quote character inside an unquoted value, or text after a closing quote: put '
                     'the whole value in double quotes and double any quote inside it ("")')
_LONE_CR = ("a carriage return (CR) not followed by a line feed ends a line only on old Macs: save the "
            "file with LF or CRLF line ends, and remove any CR inside a value")
_UNCLOSED_QUOTE = ('a quote opened here is never closed, so the file ends inside a quoted value: close '
                   'the quote, and double any quote inside a value ("")')
_LONG_QUOTED_VALUE = (f"a quoted value that spans lines is longer than {csv.field_size_limit():,} "
                      f"characters (usually a quote that is never closed, so the rest of the file "
                      f"became one value): check the quotes from this line on")


def _csv_reason(exc: csv.Error) -> str:
    """What a csv.Error means to the partner who wrote the file, and what to do about it."""
    text = str(exc)
    if text.endswith(" expected after '\"'"):
        return _TEXT_AFTER_QUOTE
    if text.startswith("new-line character seen in unquoted field"):
        return _LONE_CR
    if text == "unexpected end of data":
        return _UNCLOSED_QUOTE
    return "the line is not valid CSV: check its quotes, commas and line ends"


def _value_pattern(excluded: str = "") -> str:
    """A valid required value: not empty, no whitespace at either end (so
    stripping changes nothing), no control character, at most MAX_ID_LENGTH
    characters, none of ``excluded``."""
    # Possessive ({}+) and a look-behind for the last character: no
    # backtracking. The control characters (\n among them) are one more range
    # of the excluded class, which costs nothing.
    return (rf"[^\s{excluded}\x00-\x1f\x7f][^{excluded}\x00-\x1f\x7f]{{0,{MAX_ID_LENGTH - 1}}}+"
            rf"(?<!\s)")


def _row_pattern(schema: Schema, value: str) -> re.Pattern:
    """Matches a row's required values, joined by line feeds, when each is ``value`` (or an amount).

    A value may hold a comma or a quote here, but never a line feed (a control
    character), so the joint cannot be mistaken for a character of a value.
    """
    return re.compile("\n".join(_AMOUNT.pattern if column == schema.amount_column else value
                                 for column in schema.columns))


def _block_pattern(schema: Schema, positions: list[int], width: int) -> re.Pattern:
    """Matches a block of lines that the exact path would accept as they are.

    A required value is valid as it is (``_value_pattern``) and holds no quote
    or comma; an extra column's value is not checked, its length neither (the
    exact path reads a long unquoted value too). No backtracking, so the whole
    block is checked in one pass.
    """
    value = _value_pattern(',"')
    amount = _AMOUNT.pattern
    other = r'[^,"\n]*+'
    fields = [other] * width
    for index, pos in enumerate(positions):
        fields[pos] = amount if index == schema.amount_index else value
    line = ",".join(fields)
    return re.compile(rf"(?:{line}\n)*(?:{line})?")


def _read_header(reader, lines: Iterator[str], read: list[str], schema: Schema,
                 file_name: str) -> tuple[list[str], int, int]:
    """The header's cells, its line, and the lines read past csv.reader's count (as for
    ``_exact_rows``), after any blank lines; ``read`` as for ``_exact_rows``, from line 1."""
    pulled = 0
    while True:
        start = pulled + reader.line_num + 1
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidFileError(file_name, [Problem(
                1, "", "", f"the file is empty: expected a header row {','.join(schema.columns)}")],
                hint="Upload the file with its header row and data.") from None
        except csv.Error as exc:
            again = _reread(exc, read[start - 1:], lines)
            if again.fields is None:
                _, shown, reason = again.broken
                raise InvalidFileError(file_name, [Problem(start, "", shown, reason)],
                                       hint=FIX_HINT) from exc
            header, pulled = again.fields, pulled + again.lines_pulled
        if any(cell.strip() for cell in header):
            return header, pulled + reader.line_num, pulled


def _check_header(header: list[str], line: int, schema: Schema, file_name: str) -> list[str]:
    """The header's names, stripped and in lower case, once they name each required column once."""
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
    return names
