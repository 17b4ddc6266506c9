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
fields, blank lines (skipped), the kind's required columns (``chalicelib.kinds``)
in any order. Extra columns are allowed and ignored, so partners can add
columns without breaking the feed; their values may be of any length, but for a
quoted value that spans lines.

The modules, in the order a file goes through them:

- ``decoding``: bytes into lines of text; a file that is no UTF-8 text is told apart.
- ``file_parser``: ``parse_rows``; the header, then the fast path, then the exact path.
- ``fast_path``: a block of plain lines into rows at once, with loops that run in C.
- ``exact_path``: the rest, row by row with csv.reader, each problem located.
- ``records``: what csv.reader does not say (quoted values, where a record breaks), and
  values over its field limit.
- ``rules``: what a valid header and value are, and each problem's wording.
- ``outcome``: the counts and the problem log a parse hands back.
"""
from chalicelib.parsing.decoding import decode_blocks, decode_lines
from chalicelib.parsing.file_parser import parse_rows
from chalicelib.parsing.outcome import FIX_HINT, ParseStats
from chalicelib.parsing.rules import AMOUNT_RULE, MAX_AMOUNT_DIGITS, MAX_AMOUNT_PLACES, MAX_ID_LENGTH

__all__ = ["AMOUNT_RULE", "FIX_HINT", "MAX_AMOUNT_DIGITS", "MAX_AMOUNT_PLACES", "MAX_ID_LENGTH", "ParseStats",
           "decode_blocks", "decode_lines", "parse_rows"]
