"""The fast path: a whole block of lines into rows at once, when every line in it is plain.

A regular expression checks the block in one pass: no quotes, the header's
number of fields, required values present, unpadded, free of control
characters and not too long, amounts valid. Such a block is split into columns
and its rows are built with loops that run in C, so a row costs no Python code
of its own: most files are all fast path. A block that fails the check, or
holds a repeated id, is left to the exact path, which gives the same rows and
says what is wrong where.
"""
from __future__ import annotations

import re

from chalicelib.gcpause import gc_paused
from chalicelib.kinds import FileKind
from chalicelib.parsing.rules import AMOUNT, Header, value_pattern
from chalicelib.row_ids import RowIds


class FastPath:
    def __init__(self, kind: FileKind, header: Header, ids: RowIds) -> None:
        self._kind = kind
        self._positions = header.positions
        self._width = header.width
        self._ids = ids
        self._plain = _block_pattern(kind, header).fullmatch

    def rows(self, text: str, first_line: int) -> list | None:
        """The rows of a block of lines, the first of them line ``first_line`` of the file,
        or None if one of them is not plain (or repeats an id): the exact path reads it."""
        if '"' in text or "\x00" in text:
            return None
        if "\r" in text:
            if text.count("\r") != text.count("\r\n"):
                return None
            text = text.replace("\r\n", "\n")
        if not self._plain(text):
            return None
        # The pattern has checked the shape, so splitting on commas gives
        # exactly `width` fields per line, in order.
        fields = text.removesuffix("\n").replace("\n", ",").split(",")
        width = self._width
        columns = [fields[pos::width] for pos in self._positions]
        if not self._ids.add_block(columns[0], first_line):
            return None  # a repeated id: the exact path says which, and where
        with gc_paused():
            return self._kind.build_all(columns)


def _block_pattern(kind: FileKind, header: Header) -> re.Pattern[str]:
    """Matches a block of lines that the exact path would accept as they are.

    A required value is valid as it is (``value_pattern``) and holds no quote
    or comma; an extra column's value is not checked, its length neither (the
    exact path reads a long unquoted value too). No backtracking, so the whole
    block is checked in one pass.
    """
    value = value_pattern(',"')
    fields = [r'[^,"\n]*+'] * header.width
    for index, pos in enumerate(header.positions):
        fields[pos] = AMOUNT.pattern if index == kind.amount_index else value
    line = ",".join(fields)
    return re.compile(rf"(?:{line}\n)*(?:{line})?")
