"""Holding the cyclic garbage collector while rows are made in bulk."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collections inside the block; they resume (and catch up once) after it.

    Rows, summaries and messages hold no reference cycles, so the collector
    finds nothing in them; but each allocation counts towards a collection
    that walks every object still alive, and with 100,000s of rows alive that
    walking is most of the time spent. Memory is still freed at once by
    reference counting. Nested use is fine: only the outermost re-enables.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
