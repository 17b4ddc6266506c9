"""The emulator's replacement for a piece of moto's DynamoDB: each request applied whole.

moto is not atomic under threads (an UpdateItem on a new key puts the key
alone, then sets its attributes); the emulator serves one DynamoDB request at
a time, which is what DynamoDB's per-item atomicity looks like from outside.

Which moto function it replaces is its row in ``fixes.patches()``.
"""
from __future__ import annotations

import functools
import threading


def one_at_a_time(call_action, lock: threading.Lock):
    """``call_action`` that waits for any other DynamoDB request to finish first."""
    @functools.wraps(call_action)
    def serialised(self):
        with lock:
            return call_action(self)
    return serialised
