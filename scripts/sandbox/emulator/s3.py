"""The emulator's replacements for pieces of moto's S3: its object events as S3 sends them.

One multipart upload sends one ObjectCreated event, as S3 does (moto sends
two), and every event carries a sequencer that grows with the writes of its
key (moto sends none).

Which moto function each one replaces, and why, is its row in ``fixes.patches()``.
"""
from __future__ import annotations

import functools
import itertools
import threading
import time

# Held while an object is stored or removed and its event sent. A key's
# sequencers then follow the order of its writes, as S3's do; and a write
# between another's and its event no longer disposes of the object that event
# describes (moto reads its ETag then: "I/O operation on closed file", a 500,
# no event).
_object_writes = threading.RLock()  # re-entered: a completion calls put_object
_completing = threading.local()
_sending = threading.local()
_sequencers_lock = threading.Lock()
# Starts at the clock, so that a restarted emulator's sequencers still exceed
# the ones it handed out before; 16 hex digits hold it for centuries.
_sequencers = itertools.count(time.time_ns())


def next_sequencer() -> str:
    """A sequencer larger than every one handed out before, in any thread: 16 uppercase hex digits."""
    with _sequencers_lock:
        return f"{next(_sequencers):016X}"


def one_write_at_a_time(write):
    """An ``S3Backend`` method that stores or removes an object and notifies, while no other thread does."""
    @functools.wraps(write)
    def serialised(self, *args, **kwargs):
        with _object_writes:
            return write(self, *args, **kwargs)
    return serialised


def notifying_once(complete_multipart_upload):
    """``S3Backend.complete_multipart_upload``, one write at a time; ``put_object`` sends no event inside."""
    @functools.wraps(complete_multipart_upload)
    def complete(self, *args, **kwargs):
        with _object_writes:
            outer = getattr(_completing, "active", False)
            _completing.active = True
            try:
                return complete_multipart_upload(self, *args, **kwargs)
            finally:
                _completing.active = outer
    return complete


def quiet_inside_a_completion(put_object):
    """``S3Backend.put_object``, one write at a time, with no event when a multipart completion calls it."""
    @functools.wraps(put_object)
    def put(self, *args, **kwargs):
        with _object_writes:
            if getattr(_completing, "active", False):
                kwargs["disable_notification"] = True  # moto's own switch, as its copy_object uses it
            return put_object(self, *args, **kwargs)
    return put


def with_a_sequencer(send_event):
    """``notifications.send_event`` that takes the event's sequencer first, the same for each destination."""
    @functools.wraps(send_event)
    def send(*args, **kwargs):
        outer = getattr(_sending, "sequencer", None)
        _sending.sequencer = next_sequencer()
        try:
            return send_event(*args, **kwargs)
        finally:
            _sending.sequencer = outer
    return send


def carrying_the_sequencer(get_s3_event):
    """``notifications._get_s3_event`` whose records carry the sequencer of the event being sent."""
    @functools.wraps(get_s3_event)
    def event(*args, **kwargs) -> dict:
        body = get_s3_event(*args, **kwargs)
        sequencer = getattr(_sending, "sequencer", None) or next_sequencer()
        for record in body["Records"]:
            record["s3"]["object"]["sequencer"] = sequencer
        return body
    return event
