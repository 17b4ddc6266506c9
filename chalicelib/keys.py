"""What an object key says: which kind of file, of which batch."""
from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.errors import Problem, UnknownObjectKeyError

KINDS = ("customers", "orders", "items")

# <kind>_<batch id>.csv under any prefix; a batch id is letters, digits, '-' and '.'.
_BATCH_ID = r"[A-Za-z0-9][A-Za-z0-9.-]{0,99}"
BATCH_ID_PATTERN = re.compile(_BATCH_ID)
_KEY = re.compile(rf"^(?:.*/)?(customers|orders|items)_({_BATCH_ID})\.csv$")


@dataclass(frozen=True)
class ObjectName:
    key: str
    kind: str
    batch_id: str

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def parse_object_key(key: str) -> ObjectName:
    """Split ``incoming/orders_20230828.csv`` into kind ``orders`` and batch ``20230828``."""
    match = _KEY.fullmatch(key)  # fullmatch: "$" would also allow a trailing newline
    if not match:
        raise UnknownObjectKeyError(key, [Problem(
            line=0, column="", value=key,
            reason="the object key is not <kind>_<batch id>.csv with kind one of "
                   "customers, orders, items")],
            hint="Rename the file, e.g. orders_20230828.csv, and upload it again.")
    return ObjectName(key=key, kind=match.group(1), batch_id=match.group(2))
