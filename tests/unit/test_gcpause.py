"""gcpause: the collector is held inside the blocks and comes back on after the last one."""
from __future__ import annotations

import gc

from chalicelib.gcpause import gc_paused


def test_the_collector_is_held_inside_and_back_on_after():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_blocks_of_two_threads_that_end_out_of_order_leave_it_on():
    # Thread A enters, thread B enters, A leaves, B leaves: the interleaving
    # that, with a per-block "was it on?", left the collector off for good.
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # B is still inside
    second.__exit__(None, None, None)

    assert gc.isenabled()


def test_a_collector_switched_off_by_the_program_stays_off():
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
