"""bench: the AWS projection of one invocation and the largest file that fits it twice over."""
from __future__ import annotations

from scripts.bench.projection import LAMBDA_SECONDS, TMP_MB, projection

MIB = 2 ** 20


def l_like_run(seconds_per_file: list[float]) -> dict:
    return {"bytes": 72 * MIB, "largest_file_bytes": 48 * MIB, "seconds_per_file": seconds_per_file,
            "calls": {"dynamodb.Query": 50, "sqs.SendMessageBatch": 10_000}}


def test_the_largest_file_by_disk_is_what_half_of_tmp_holds_at_the_measured_spill_ratio():
    in_process = {"ingest_s": 30.0, "publish_s": 30.0, "tmp_peak_mb": 144.0}  # spills 2x the batch

    p = projection(l_like_run([1, 1, 1]), memory_mb=1769, in_process=in_process)

    # Half of /tmp (256 MB) holds a 128 MB batch at 2x; its largest file is 2/3 of it.
    assert p["max_file_bytes_by_disk"] == int(48 * MIB * (TMP_MB / 2) / 144.0)
    assert 85 * MIB < p["max_file_bytes_by_disk"] < 86 * MIB


def test_the_largest_file_by_time_fits_half_of_fifteen_minutes():
    in_process = {"ingest_s": 40.0, "publish_s": 50.0, "tmp_peak_mb": 0.0}

    p = projection(l_like_run([1, 1, 1]), memory_mb=1769, in_process=in_process)

    assert p["seconds"] == 90.0 + 50 * 0.010 / 4 + 10_000 * 0.020 / 8
    assert p["max_file_bytes_by_time"] == int(72 * MIB / p["seconds"] * (LAMBDA_SECONDS / 2) * (48 / 72))
    assert p["max_file_bytes"] == p["max_file_bytes_by_time"]  # nothing spilled: time binds
