"""Holding the cyclic garbage collector while rows are made in bulk."""
from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # blocks inside gc_paused now, in any thread
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collections inside the block; they resume (and catch up once) after it.

    Rows, summaries and messages hold no reference cycles, so the collector
    finds nothing in them; but each allocation counts towards a collection
    that walks every object still alive, and with 100,000s of rows alive that
    walking is most of the time spent. Memory is still freed at once by
    reference counting. Nested use, and use from several threads (chalice
    local serves requests on threads), are fine: the collector comes back on
    when the last block ends, if it was on when the first began.
    """
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
