"""The REPORT line Lambda writes after each invocation, and how to read one back.

    REPORT RequestId: <id>\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 1024 MB\t
    Max Memory Used: 87 MB\tInit Duration: 456.78 ms

Init Duration only on a cold start; ``Status: timeout`` or ``Status: error``
with an ``Error Type`` when the runtime stopped the invocation, as Lambda's
newer runtimes write them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

# The share of the timeout or memory above which the runner warns.
WARN_SHARE = 0.8

_FIELD = re.compile(r"([A-Za-z ]+): ([^\t]+)")


@dataclass(frozen=True)
class Report:
    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None  # on a cold start only
    status: str = ""       # "", "timeout" or "error"
    error_type: str = ""   # with status "error": Runtime.OutOfMemory, Runtime.ExitError

    @property
    def billed_duration_ms(self) -> int:
        # Lambda bills in 1 ms steps, rounded up.
        return max(1, math.ceil(self.duration_ms))

    def line(self) -> str:
        fields = [f"REPORT RequestId: {self.request_id}",
                  f"Duration: {self.duration_ms:.2f} ms",
                  f"Billed Duration: {self.billed_duration_ms} ms",
                  f"Memory Size: {self.memory_size_mb} MB",
                  f"Max Memory Used: {self.max_memory_used_mb} MB"]
        if self.init_duration_ms is not None:
            fields.append(f"Init Duration: {self.init_duration_ms:.2f} ms")
        if self.status:
            fields.append(f"Status: {self.status}")
        if self.error_type:
            fields.append(f"Error Type: {self.error_type}")
        return "\t".join(fields)

    def warnings(self, timeout_seconds: float) -> list[str]:
        """What came close to a limit: the invocation would fail in AWS with a little more."""
        said = []
        timeout_ms = timeout_seconds * 1000
        if not self.status and self.duration_ms > WARN_SHARE * timeout_ms:
            said.append(f"took {self.duration_ms / timeout_ms:.0%} of its timeout "
                        f"({self.duration_ms / 1000:.1f} of {timeout_seconds:g} s)")
        if not self.error_type and self.max_memory_used_mb > WARN_SHARE * self.memory_size_mb:
            said.append(f"used {self.max_memory_used_mb / self.memory_size_mb:.0%} of its memory "
                        f"({self.max_memory_used_mb} of {self.memory_size_mb} MB)")
        return said


def parse_report(line: str) -> Report | None:
    """The report in ``line`` (a log line that contains one), or None."""
    start = line.find("REPORT RequestId: ")
    if start < 0:
        return None
    fields = {name.strip(): value.strip()
              for name, value in _FIELD.findall(line[start + len("REPORT "):])}
    try:
        return Report(
            request_id=fields["RequestId"],
            duration_ms=float(fields["Duration"].removesuffix(" ms")),
            memory_size_mb=int(fields["Memory Size"].removesuffix(" MB")),
            max_memory_used_mb=int(fields["Max Memory Used"].removesuffix(" MB")),
            init_duration_ms=(float(fields["Init Duration"].removesuffix(" ms"))
                              if "Init Duration" in fields else None),
            status=fields.get("Status", ""), error_type=fields.get("Error Type", ""))
    except (KeyError, ValueError):
        return None
