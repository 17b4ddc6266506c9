"""The memory figures of REPORT lines and of `make bench`: a process's peak resident memory."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

MEASURE = """
import json, os
from scripts.sandbox import memory
before = memory.own_peak_mb()
block = b"x" * (64 * 1024 * 1024)  # written, so resident
own_after, seen_after = memory.own_peak_mb(), memory.peak_mb(os.getpid())
del block
reset = memory.reset_peak(os.getpid())
print(json.dumps({"before": before, "own_after": own_after, "seen_after": seen_after,
                  "reset": reset, "after_reset": memory.peak_mb(os.getpid())}))
"""


def test_the_peak_counts_what_the_process_allocated_and_starts_afresh_after_a_reset():
    # A fresh process: the test runner's own peak may be far above 64 MB already.
    figures = json.loads(subprocess.run([sys.executable, "-c", MEASURE], cwd=PROJECT_DIR, check=True,
                                        capture_output=True, text=True).stdout)

    assert figures["own_after"] - figures["before"] >= 60
    # The same peak, in whole MB rounded up as REPORT gives it.
    assert figures["own_after"] <= figures["seen_after"] < figures["own_after"] + 2
    if figures["reset"]:  # the kernel may refuse (it allows it for one's own processes on Linux 4.0+)
        assert figures["after_reset"] < figures["own_after"] - 60
