"""CSV records as csv.reader reads them, plus what csv.reader does not say.

csv.reader (strict, "" doubles a quote) reads the records of the exact path.
It says neither whether a value was quoted nor where it found the CSV broken,
and it refuses any value over ``csv.field_size_limit()`` (131,072 characters),
which only a global setting changes. So the lines of the record being read are
kept (``RecordedLines``): from its text, ``quoted_fields`` tells the quoted
values, and ``reread`` either reads a record with a long value by csv.reader's
rules but that limit, or says which field is broken, and why, in the partner's
words rather than the csv module's.

A value may be of any length but for a quoted value that spans lines: past the
limit, that is almost always a quote never closed, so it is not read to the end
of the file.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from chalicelib.parsing.decoding import split_lines

# One field of a record as csv.reader reads it (strict, "" doubles a quote): to
# find again the field where the reader gave up.
_RAW_FIELD = re.compile(r'"(?:[^"]++|"")*+"|[^,"\r\n][^,\r\n]*+|')
# The same grammar a line at a time, for a record read without csv's field limit:
_QUOTED_PART = re.compile(r'(?:[^"]++|"")*+')       # inside quotes, to the closing one or the line end
_UNQUOTED_FIELD = re.compile(r'[^,"\r\n][^,\r\n]*+|')
_LINE_END = re.compile(r"\r*\n?")                   # csv.reader takes any run of CRs before the LF

_TEXT_AFTER_QUOTE = ('a quote character inside an unquoted value, or text after a closing quote: put '
                     'the whole value in double quotes and double any quote inside it ("")')
_LONE_CR = ("a carriage return (CR) not followed by a line feed ends a line only on old Macs: save the "
            "file with LF or CRLF line ends, and remove any CR inside a value")
_UNCLOSED_QUOTE = ('a quote opened here is never closed, so the file ends inside a quoted value: close '
                   'the quote, and double any quote inside a value ("")')
_LONG_QUOTED_VALUE = (f"a quoted value that spans lines is longer than {csv.field_size_limit():,} "
                      f"characters (usually a quote that is never closed, so the rest of the file "
                      f"became one value): check the quotes from this line on")


class RecordedLines:
    """The lines of text blocks, for csv.reader, keeping the lines of the records being read.

    Iterating gives the lines, each appended to ``read`` as it goes, whoever
    takes it (csv.reader, or ``reread`` reading on past it). So the next record
    starts at ``next_line()``, without counting what csv.reader counted.
    """

    def __init__(self, blocks: Iterable[str], first_line: int) -> None:
        self.read: list[str] = []
        self.first = first_line  # the file's line number of read[0]
        self._lines = self._recorded(blocks)

    def __iter__(self) -> Iterator[str]:
        return self._lines

    def next_line(self) -> int:
        """The file's line number of the next line to be read."""
        return self.first + len(self.read)

    def record(self, line: int) -> list[str]:
        """The lines read from file line ``line`` (where a record starts) on."""
        return self.read[line - self.first:]

    def forget_before(self, line: int) -> None:
        """Drop the lines before file line ``line``: a long file's lines are not all kept."""
        del self.read[:line - self.first]
        self.first = line

    def _recorded(self, blocks: Iterable[str]) -> Iterator[str]:
        keep = self.read.append  # the same list for good: forget_before deletes in place
        for block in blocks:
            for line in split_lines(block):
                keep(line)
                yield line


def quoted_fields(text: str, fields: list[str]) -> list[bool]:
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


@dataclass
class Reread:
    """A record csv.reader gave up on, read again: its fields, or where it breaks and why."""

    fields: list[str] | None
    broken: tuple[int, str, str] = (0, "", "")  # field index, the text shown, the reason


def reread(exc: csv.Error, record_lines: list[str], more: Iterator[str]) -> Reread:
    """The fields of a record csv.reader refused only for its field limit; else where it breaks.

    ``record_lines`` are the record's lines as far as csv.reader read them, its
    first line first; ``more`` gives the lines after them, read while a quoted
    value is open.
    """
    if str(exc).startswith("field larger than field limit"):
        return _LongRecord(record_lines, more).read()
    text = "".join(record_lines)
    index, at = _malformed_field(text)
    return Reread(None, broken=(index, _excerpt(text, at), _csv_reason(exc)))


class _LongRecord:
    """A record with a value over csv's field limit, read by csv.reader's rules but that
    limit (which a quoted value that spans lines keeps). Never on the fast path."""

    def __init__(self, lines: list[str], more: Iterator[str]) -> None:
        self.lines = list(lines)
        self.more = more
        self.limit = csv.field_size_limit()
        self.fields: list[str] = []
        self.row = self.at = 0  # the line and the character read next

    def read(self) -> Reread:
        while True:
            index, first_row, begin = len(self.fields), self.row, self.at
            reason = None
            if self.lines[self.row].startswith('"', self.at):
                reason = self._quoted_field()
            else:
                self._unquoted_field()
            if reason is None:
                line, at = self.lines[self.row], self.at
                if line.startswith(",", at):
                    self.at += 1
                    continue
                if _LINE_END.fullmatch(line, at):
                    return Reread(self.fields)
                reason = _LONE_CR if line[at] == "\r" else _TEXT_AFTER_QUOTE
            return Reread(None, (index, _excerpt(self.lines[first_row], begin), reason))

    def _quoted_field(self) -> str | None:
        """Read the quoted field that starts here; None once read, else what is wrong with it."""
        parts: list[str] = []
        length, first_row = 0, self.row
        self.at += 1
        while True:
            line = self.lines[self.row]
            end = _end_of(_QUOTED_PART, line, self.at)
            parts.append(line[self.at:end].replace('""', '"'))  # a "" never spans lines
            length += len(parts[-1])
            if end < len(line):  # the closing quote
                self.at = end + 1
                break
            if length > self.limit:
                return _LONG_QUOTED_VALUE
            if not self._next_line():
                return _UNCLOSED_QUOTE
        if self.row != first_row and length > self.limit:
            return _LONG_QUOTED_VALUE
        self.fields.append("".join(parts))
        return None

    def _unquoted_field(self) -> None:
        """Read the unquoted field that starts here (it may be empty)."""
        line = self.lines[self.row]
        end = _end_of(_UNQUOTED_FIELD, line, self.at)
        self.fields.append(line[self.at:end])
        self.at = end

    def _next_line(self) -> bool:
        """Go on to the record's next line, read from ``more`` if need be; False at the file's end."""
        if self.row + 1 == len(self.lines):
            following = next(self.more, None)
            if following is None:
                return False
            self.lines.append(following)
        self.row, self.at = self.row + 1, 0
        return True


def _end_of(pattern: re.Pattern[str], text: str, at: int) -> int:
    """Where ``pattern``, which also matches an empty string (so always matches), ends from ``at``."""
    match = pattern.match(text, at)
    assert match is not None
    return match.end()


def _malformed_field(text: str) -> tuple[int, int]:
    """The index of the field where csv.reader gave up on a record's text, and where it starts."""
    at = index = 0
    while True:
        end = _end_of(_RAW_FIELD, text, at)
        if not text.startswith(",", end):
            return index, at
        at, index = end + 1, index + 1


def _excerpt(text: str, at: int) -> str:
    """The record's text from a field on, to the end of its line, shortened."""
    shown, line_feed, _ = text[at:].partition("\n")
    if line_feed:
        shown = shown.removesuffix("\r")
    return shown if len(shown) <= 40 else shown[:40] + "..."


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
