"""One invocation of a drop projected for AWS, and the largest file that fits one twice over.

Lambda gives CPU in proportion to memory: 1,769 MB is one full vCPU. The
figures measured here are from one core of the bench's machine, taken as one
vCPU.
"""
from __future__ import annotations

FULL_VCPU_MB = 1769
LAMBDA_SECONDS = 900  # Lambda's longest timeout
TMP_MB = 512  # Lambda's default ephemeral storage
# The calls are latency bound: about this long each, on this many threads.
DYNAMODB_CALL_S, DYNAMODB_THREADS = 0.010, 4
SEND_BATCH_S, SEND_THREADS = 0.020, 8


def cpu_share(memory_mb: int) -> float:
    """The part of a vCPU Lambda gives a function of ``memory_mb``."""
    return min(1.0, memory_mb / FULL_VCPU_MB)


def projection(run: dict, memory_mb: int, in_process: dict | None) -> dict:
    """One invocation in AWS for this drop, and the largest file that fits in 15 minutes twice over.

    The completing invocation is the longest: it processes its file and then
    publishes the whole batch. Its CPU time is the handler's time in process
    (no emulator: the emulator's own slowness is not AWS's), scaled by the CPU
    share ``memory_mb`` buys. Its calls are latency bound: at about 10 ms a
    DynamoDB call and 20 ms a SendMessageBatch, on 4 and 8 threads.
    """
    share = cpu_share(memory_mb)
    if in_process:
        cpu_s = (in_process["ingest_s"] + in_process["publish_s"]) / share
    else:
        cpu_s = sum(run["seconds_per_file"]) / share
    dynamodb_calls = sum(n for op, n in run["calls"].items() if op.startswith("dynamodb."))
    sends = run["calls"].get("sqs.SendMessageBatch", 0)
    calls_s = dynamodb_calls * DYNAMODB_CALL_S / DYNAMODB_THREADS + sends * SEND_BATCH_S / SEND_THREADS
    seconds = cpu_s + calls_s
    # Time and disk grow with the batch's bytes; a batch's files stand in the
    # same proportion as here. Both get a 2x margin.
    largest_share = run["largest_file_bytes"] / run["bytes"]
    by_time = int(run["bytes"] / seconds * (LAMBDA_SECONDS / 2) * largest_share)
    tmp_mb = in_process["tmp_peak_mb"] if in_process else 0.0
    # Half of /tmp holds a batch of (TMP_MB / 2) / (tmp_mb / batch bytes) bytes.
    by_disk = int(run["largest_file_bytes"] * (TMP_MB / 2) / tmp_mb) if tmp_mb else by_time
    return {"seconds": seconds, "cpu_s": cpu_s, "calls_s": calls_s, "tmp_mb": tmp_mb,
            "max_file_bytes_by_time": by_time, "max_file_bytes_by_disk": by_disk,
            "max_file_bytes": min(by_time, by_disk)}
