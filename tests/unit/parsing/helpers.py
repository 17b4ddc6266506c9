"""What the parsing tests share: files built from lines, and the problems an error names."""
from __future__ import annotations

import pytest

from chalicelib.errors import InvalidFileError
from chalicelib.parsing import parse_rows

BOM = b"\xef\xbb\xbf"
AMOUNT_REASON = ("the amount must be a non-negative decimal number: digits 0-9 with an optional '.', "
                 "at most 15 digits before the point and at most 2 decimal places, e.g. 1234.50")
ORDERS_HEADER = "order_id,customer_id,amount"


def csv_bytes(*lines: str, end: str = "\n", bom: bool = False) -> bytes:
    return (BOM if bom else b"") + "".join(line + end for line in lines).encode("utf-8")


def parse(kind: str, data: bytes, chunks: list[bytes] | None = None, **kwargs) -> list:
    return list(parse_rows(kind, chunks if chunks is not None else [data], f"{kind}_b1.csv", **kwargs))


def rejection(kind: str, data: bytes, **kwargs) -> InvalidFileError:
    with pytest.raises(InvalidFileError) as caught:
        parse(kind, data, **kwargs)
    return caught.value


def located(error: InvalidFileError) -> list[tuple[int, str, str]]:
    return [(p.line, p.column, p.reason) for p in error.problems]



# --- control characters ---------------------------------------------------------------
# A plain header lets clean blocks take the fast path; a quoted one sends the file
# down the exact path. Each case runs both ways: the rule is the same.

BOTH_PATHS = pytest.mark.parametrize("quote_header", [False, True], ids=["fast-path", "exact-path"])


def with_header(columns: str, *rows: str, quote_header: bool) -> bytes:
    """A header, 50 clean rows (a block for the fast path), then ``rows``."""
    names = columns.split(",")
    header = ",".join(f'"{name}"' for name in names) if quote_header else columns
    filler = ["1.00" if name == "amount" else "x" for name in names[1:]]
    clean = [",".join([f"c{n}", *filler]) for n in range(50)]
    return csv_bytes(header, *clean, *rows)


