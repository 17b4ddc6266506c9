"""A file version's rows as a few compressed blocks: what the store keeps of a file.

DynamoDB bills writes per item (1 KB units, rounded up per item) and moto pays
per item too, while the rows are only ever read back together. So rows are
stored as chunks: lines of tab-separated values, one per field of the kind's
row (``chalicelib.kinds``), cut into blocks of at most ``CHUNK_RAW_BYTES`` and
compressed with zlib.

Validation refuses tabs, line breaks and every other control character in a
value, so a tab and a line end can only be separators: the encoding needs no
quoting. The cut depends only on the rows' bytes, never on how they were read,
so processing a file again makes exactly the same chunks.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from chalicelib.kinds import file_kind

# 256 KiB of lines compress to about 50-120 KB for the generated drops; even
# incompressible lines stay well under DynamoDB's 400 KB item limit.
CHUNK_RAW_BYTES = 256 * 1024
COMPRESSION_LEVEL = 6
_ENCODE_BLOCK_ROWS = 4096  # rows encoded at once: joins and counts run in C


@dataclass(frozen=True)
class Chunk:
    number: int      # 0, 1, 2, ... in file order
    rows: int
    raw_bytes: int   # before compression
    data: bytes      # zlib


def cut_chunks(kind: str, rows: Iterable, raw_bytes: int = CHUNK_RAW_BYTES) -> Iterator[Chunk]:
    """The chunks of ``rows`` of ``kind``, in order; none for a file with no rows."""
    buffer = bytearray()
    number = 0
    for block in _encoded_blocks(kind, iter(rows)):
        buffer += block
        while len(buffer) >= raw_bytes:
            cut = buffer.rfind(b"\n", 0, raw_bytes) + 1
            if cut == 0:  # one line longer than a chunk: it gets a chunk of its own
                cut = buffer.index(b"\n") + 1
            yield _chunk(number, bytes(buffer[:cut]))
            del buffer[:cut]
            number += 1
    if buffer:
        yield _chunk(number, bytes(buffer))


def _chunk(number: int, lines: bytes) -> Chunk:
    return Chunk(number, lines.count(b"\n"), len(lines), zlib.compress(lines, COMPRESSION_LEVEL))


def _encoded_blocks(kind: str, rows: Iterator) -> Iterator[bytes]:
    width = len(file_kind(kind).columns)
    # One C call a row: a row is a tuple, and %s writes an amount's Decimal as
    # the parser read it (250.00 stays 250.00).
    line_of = "\t".join(["%s"] * width).__mod__
    while block := list(islice(rows, _ENCODE_BLOCK_ROWS)):
        text = "\n".join(map(line_of, block)) + "\n"
        # Validation keeps separators out of values; this makes sure of it,
        # as a value holding one would silently become two rows or columns.
        if text.count("\n") != len(block) or text.count("\t") != len(block) * (width - 1):
            raise ValueError(f"a {kind} value holds a tab or a line break; validation should "
                             f"have refused it")
        yield text.encode("utf-8")


def decode_chunk(kind: str, data: bytes) -> list:
    """The rows of one chunk, as the parser made them."""
    text = zlib.decompress(data).decode("utf-8")
    rows = text.count("\n")
    if not rows:
        return []
    # As the parser's fast path does: one split for the whole chunk, then a
    # column is every width-th field, and the rows are built in C.
    fields = text[:-1].replace("\n", "\t").split("\t")
    schema = file_kind(kind)
    width = len(schema.columns)
    if len(fields) != rows * width:
        raise ValueError(f"a {kind} chunk has {len(fields)} values in {rows} lines, not {width} a line")
    return schema.build_all([fields[pos::width] for pos in range(width)])
