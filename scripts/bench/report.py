"""What ``make bench`` prints: the runs' table and breakdowns, the projection, and one closing JSON line.

The JSON line holds the headline figures, for tools and for comparing runs.
"""
from __future__ import annotations

import json

from chalicelib.config import DEFAULT_MAX_FILE_BYTES
from scripts.bench.projection import cpu_share, projection

PROJECTED_DROPS = ("M", "L")  # smaller drops are fixed costs mostly


def calls_per_1k(run: dict) -> float:
    return sum(run["calls"].values()) / (run["rows"] / 1000)


def units_per_1k(run: dict) -> float:
    return run["write_units"] / (run["rows"] / 1000)


def print_report(runs: dict[str, dict], parsing: dict, parse_drop: str, in_process: dict[str, dict],
                 memory_mb: int) -> None:
    """Print the figures; ``memory_mb`` is the function's, which the projection is for."""
    _print_runs(runs)
    _print_in_process(in_process)
    projections = _print_projections(runs, in_process, memory_mb)
    ours, baseline = runs["XS"], runs["XS baseline"]
    print()
    print(f"XS drop: the original design made {calls_per_1k(baseline) / calls_per_1k(ours):.1f}x the API "
          f"calls and took {baseline['wall_s'] / ours['wall_s']:.1f}x the wall time.")
    print(f"Parsing ({parse_drop} drop, {parsing['rows']:,} rows, one core): "
          f"{parsing['parse_rows_per_s']:,.0f} rows/s parse + validate + aggregate; "
          f"{parsing['csv_reader_rows_per_s']:,.0f} rows/s bare csv.reader "
          f"({parsing['parse_rows_per_s'] / parsing['csv_reader_rows_per_s']:.2f}x).")
    print(json.dumps(summary(runs, parsing, in_process, projections)))


def _print_runs(runs: dict[str, dict]) -> None:
    print()
    print(f"{'run':<12}{'rows':>11}{'wall s':>9}{'rows/s':>10}{'peak RSS MB':>13}"
          f"{'API calls':>11}{'per 1k rows':>13}{'write units':>13}{'per 1k rows':>13}")
    for name, run in runs.items():
        calls = sum(run["calls"].values())
        print(f"{name:<12}{run['rows']:>11,}{run['wall_s']:>9.2f}{run['rows'] / run['wall_s']:>10,.0f}"
              f"{run['peak_rss_mb']:>13.0f}{calls:>11,}{calls_per_1k(run):>13.1f}"
              f"{run['write_units']:>13,}{units_per_1k(run):>13.1f}")
    print()
    for name, run in runs.items():
        if run.get("peak_rss_mb_after_each_file"):
            print(f"{name}: peak RSS after customers, orders, items+publication: "
                  + ", ".join(f"{mb:.0f} MB" for mb in run["peak_rss_mb_after_each_file"])
                  + "; seconds per invocation: "
                  + ", ".join(f"{s:.1f}" for s in run["seconds_per_file"]))
    for name, run in runs.items():
        by_operation = ", ".join(f"{op} {n:,}" for op, n in sorted(run["calls"].items(), key=lambda x: -x[1]))
        print(f"{name}: {by_operation}")


def _print_in_process(in_process: dict[str, dict]) -> None:
    print()
    print("In process, no emulator (files parsed as streamed, then the batch joined and its JSON written):")
    for size, run in in_process.items():
        steps = ", ".join(f"{mb:.0f}" for mb in run["peak_rss_mb_after_each_step"])
        print(f"{size}: files {run['ingest_s']:.1f} s, publication {run['publish_s']:.1f} s in "
              f"{run['partitions']} partition(s), {run['messages']:,} messages; peak RSS after "
              f"customers, orders, items, publication: {steps} MB; at most "
              f"{run['tmp_peak_mb']:.0f} MB spilled to disk")


def _print_projections(runs: dict[str, dict], in_process: dict[str, dict], memory_mb: int) -> dict[str, dict]:
    print()
    print(f"Projected for AWS at {memory_mb} MB ({cpu_share(memory_mb):.2f} vCPU), the "
          f"invocation that completes the batch:")
    projections = {}
    for size, run in runs.items():
        if size in in_process and size in PROJECTED_DROPS:
            projections[size] = p = projection(run, memory_mb, in_process[size])
            print(f"{size}: {p['seconds']:.0f} s ({p['cpu_s']:.0f} s CPU, {p['calls_s']:.0f} s calls), "
                  f"{p['tmp_mb']:.0f} MB of /tmp. With a 2x margin, 15 minutes fit a largest file of "
                  f"{p['max_file_bytes_by_time'] / 2**20:,.0f} MiB and 512 MB of /tmp one of "
                  f"{p['max_file_bytes_by_disk'] / 2**20:,.0f} MiB (MAX_FILE_BYTES: "
                  f"{DEFAULT_MAX_FILE_BYTES / 2**20:,.0f} MiB)")
    return projections


def summary(runs: dict[str, dict], parsing: dict, in_process: dict[str, dict],
            projections: dict[str, dict]) -> dict:
    """The headline figures: the closing JSON line."""
    ours, baseline = runs["XS"], runs["XS baseline"]
    medium, large = runs.get("M"), runs.get("L")
    figures = {
        "calls_per_1k_rows": round(calls_per_1k(medium), 1) if medium else None,
        "write_units_per_1k_rows": round(units_per_1k(medium), 1) if medium else None,
        "baseline_calls_per_1k_rows": round(calls_per_1k(baseline), 1),
        "xs_calls_per_1k_rows": round(calls_per_1k(ours), 1),
        "baseline_call_ratio": round(calls_per_1k(baseline) / calls_per_1k(ours), 1),
        "baseline_wall_ratio": round(baseline["wall_s"] / ours["wall_s"], 2),
        "parse_rows_per_s": round(parsing["parse_rows_per_s"]),
        "csv_reader_rows_per_s": round(parsing["csv_reader_rows_per_s"]),
        "m_wall_s": round(medium["wall_s"], 1) if medium else None,
        "m_peak_rss_mb": round(medium["peak_rss_mb"]) if medium else None,
    }
    if large:
        figures.update(l_wall_s=round(large["wall_s"], 1), l_peak_rss_mb=round(large["peak_rss_mb"]),
                       l_calls_per_1k_rows=round(calls_per_1k(large), 2),
                       l_write_units_per_1k_rows=round(units_per_1k(large), 1))
    if "L" in in_process:
        large_in_process = in_process["L"]
        figures.update(l_in_process_s=round(large_in_process["ingest_s"] + large_in_process["publish_s"], 1),
                       l_in_process_peak_rss_mb=round(large_in_process["peak_rss_mb"]))
    if "L" in projections:
        figures.update(l_projected_aws_s=round(projections["L"]["seconds"]),
                       projected_max_file_bytes=projections["L"]["max_file_bytes"])
    return figures
