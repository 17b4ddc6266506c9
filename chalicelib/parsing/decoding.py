"""Bytes to text: an S3 body's chunks into whole lines of UTF-8 text.

A file that is no UTF-8 text is rejected with what it is (UTF-16 or UTF-32,
gzip, a zip archive or Excel workbook) and how to save it as UTF-8 CSV, told
from its first bytes; any other invalid byte is reported on its line, after
the lines before it were handed on (so that their problems are reported too).
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

from chalicelib.errors import InvalidFileError, NotUtf8Error, Problem

_BOM = b"\xef\xbb\xbf"
_UTF8_HINT = "Export the file as UTF-8 and upload it again."


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
        yield from _decode(block, lines_before, file_name)
        lines_before += block.count(b"\n")
    if pending:
        if first:
            _check_text(pending, file_name)
            pending = _strip_bom(pending)
        yield from _decode(pending, lines_before, file_name)


def decode_lines(chunks: Iterable[bytes], file_name: str) -> Iterator[str]:
    """Text lines, each with its line end, from UTF-8 byte chunks (BOM dropped)."""
    for block in decode_blocks(chunks, file_name):
        yield from split_lines(block)


def split_lines(text: str) -> Iterator[str]:
    """The lines of ``text``, each with its line end."""
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


def _decode(block: bytes, lines_before: int, file_name: str) -> Iterator[str]:
    """The block as text; if a byte is no UTF-8, the whole lines before it, then ``NotUtf8Error``."""
    try:
        yield block.decode("utf-8")
        return
    except UnicodeDecodeError as exc:
        error = exc
    line_start = block.rfind(b"\n", 0, error.start) + 1
    if line_start:
        yield block[:line_start].decode("utf-8")
    raise NotUtf8Error(file_name, [Problem(
        line=lines_before + block.count(b"\n", 0, line_start) + 1, column="",
        value=block[error.start:error.end].hex(" "), reason="the file is not valid UTF-8 at this line")],
        hint=_UTF8_HINT) from error
