"""A process's resident memory, as Lambda's Max Memory Used measures it (Linux /proc).

The peak (``VmHWM``) is reset before each invocation by writing 5 to the
process's ``clear_refs`` (Linux 4.0+, one's own processes), so that each
REPORT gives that invocation's peak; where the reset is refused, the peak is
the environment's since it started, which is what a warm Lambda environment
accumulates too. Without /proc (macOS) another process's peak is not
measured and 0 is reported; a process's own peak then comes from getrusage.
"""
from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

KIB_PER_MB = 1024


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def peak_mb(pid: int) -> int:
    """The process's peak resident memory since start or the last reset, in MB (rounded up)."""
    return -(-_status_kib(pid, "VmHWM") // KIB_PER_MB)


def own_peak_mb() -> float:
    """This process's peak resident memory since it started, in MB (not rounded)."""
    # VmHWM is this program's own peak. ru_maxrss is not on Linux: there it
    # keeps the peak from before exec, i.e. the size of the process that forked
    # this one (the bench's parent held a whole drop in memory while it
    # measured parsing).
    kib = _status_kib(os.getpid(), "VmHWM")
    if kib or sys.platform.startswith("linux"):
        return kib / KIB_PER_MB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # macOS: in bytes


def reset_peak(pid: int) -> bool:
    """Start measuring the peak afresh; False when the kernel does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False
