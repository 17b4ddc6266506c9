"""One file's parse: its header, then the fast path for as long as it lasts, then the exact path.

Both paths give the same rows and the same problems (see ``fast_path`` and
``exact_path``); they share the problem log and the record of ids
(``row_ids.RowIds``), which finds the repeats too far apart to keep in memory
once the whole file is read.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from itertools import chain

from chalicelib.errors import InvalidFileError, NotUtf8Error
from chalicelib.kinds import FileKind, file_kind
from chalicelib.parsing.decoding import decode_blocks
from chalicelib.parsing.exact_path import ExactPath, read_header
from chalicelib.parsing.fast_path import FastPath
from chalicelib.parsing.outcome import FIX_HINT, ParseStats, ProblemLog
from chalicelib.parsing.records import RecordedLines
from chalicelib.parsing.rules import Header, check_header, repeated_id
from chalicelib.row_ids import RowIds

BOTH_HINT = "Fix the rows listed, export the file as UTF-8 and upload it again under the same key."


def parse_rows(kind: str, chunks: Iterable[bytes], file_name: str, max_reported: int = 1000,
               stats: ParseStats | None = None, ids: RowIds | None = None) -> Iterator[object]:
    """Yield the typed rows of a ``kind`` file; raise ``InvalidFileError`` at the end if any is bad.

    ``stats`` gets the counts added; ``ids`` finds repeated ids (``RowIds()`` unless
    given, with its window and spill folder) and is closed when the parse ends.
    """
    parser = _FileParser(file_kind(kind), file_name, max_reported, RowIds() if ids is None else ids)
    try:
        yield from parser.rows(decode_blocks(chunks, file_name))
        parser.finish()
    except NotUtf8Error as error:
        if not parser.log.count:
            raise
        # The rows before the undecodable line were read: their problems come first.
        parser.log.add(error.problems[0])
        raise InvalidFileError(file_name, parser.log.problems, parser.log.count,
                               hint=BOTH_HINT) from error
    finally:
        parser.ids.close()
        if stats is not None:
            stats.rows_read += parser.stats.rows_read
            stats.rows_rejected += parser.stats.rows_rejected
    if parser.log.count:
        raise InvalidFileError(file_name, parser.log.problems, parser.log.count, hint=FIX_HINT)


class _FileParser:
    def __init__(self, kind: FileKind, file_name: str, max_reported: int, ids: RowIds) -> None:
        self.kind = kind
        self.file_name = file_name
        self.log = ProblemLog(max_reported)
        self.ids = ids
        self.stats = ParseStats()

    def rows(self, blocks: Iterable[str]) -> Iterator[object]:
        blocks = iter(blocks)
        first = next(blocks, "")
        line, _, rest = first.partition("\n")
        line = line.removesuffix("\r")
        cells = line.split(",")
        if '"' in line or "\r" in line or not any(cell.strip() for cell in cells):
            # Quoted, blank, or odd: csv.reader reads the header, like everything after it.
            yield from self._exact_rows(RecordedLines(chain([first], blocks), first_line=1), None)
            return
        header = check_header(cells, 1, self.kind, self.file_name)
        yield from self._fast_rows(header, chain([rest], blocks))

    def _fast_rows(self, header: Header, blocks: Iterator[str]) -> Iterator[object]:
        """The rows of the blocks after a plain header, the fast path's until a block is not plain."""
        fast = FastPath(self.kind, header, self.ids)
        lines_before = 1
        for text in blocks:
            rows = fast.rows(text, lines_before + 1) if text else []
            if rows is None:
                lines = RecordedLines(chain([text], blocks), first_line=lines_before + 1)
                yield from self._exact_rows(lines, header)
                return
            self.stats.rows_read += len(rows)
            lines_before += text.count("\n")
            yield from rows

    def _exact_rows(self, lines: RecordedLines, header: Header | None) -> Iterator[object]:
        """The rows csv.reader reads from ``lines``, the header first unless it is given."""
        reader = csv.reader(iter(lines), strict=True)
        if header is None:
            cells, line = read_header(reader, lines, self.kind, self.file_name)
            header = check_header(cells, line, self.kind, self.file_name)
        yield from ExactPath(self.kind, header, self.log, self.ids, self.stats).rows(reader, lines)

    def finish(self) -> None:
        """Add the repeated ids that lay too far apart to be seen while reading."""
        count, newly_rejected, repeats = self.ids.far_repeats(self.log.max_reported)
        if count:
            self.log.add_late(count, [repeated_id(self.kind, line, row_id, first_line)
                                      for line, row_id, first_line in repeats])
            self.stats.rows_rejected += newly_rejected
