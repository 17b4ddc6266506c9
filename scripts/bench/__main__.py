"""``python -m scripts.bench``: the command line of ``make bench``, and of the workers it starts.

    python -m scripts.bench                # XS (with the baseline), S, M
    python -m scripts.bench --sizes L      # XS, and L

The bench measures parsing in its own process, runs the drops end to end on a
private emulator, then each drop in process with no emulator, and prints the
report (see the package's docstring for what each figure is). The hidden
``--worker`` options are how it starts its worker processes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.bench.drops import BENCH_DIR, DROPS, drop_files
from scripts.bench.launch import IN_PROCESS, WORKERS


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # A worker imports the module it runs, not the parent's: its peak RSS is one of the figures.
    if args.worker == IN_PROCESS:
        from scripts.bench.in_process import run_in_process_worker
        run_in_process_worker(drop_files(args.drop, args.bench_dir), args.result)
        return 0
    if args.worker:
        from scripts.bench.worker import run_worker
        run_worker(args.worker, args.stage, args.handler, args.table, tuple(args.table_key.split(",")),
                   args.bucket, args.keys.split(","), args.result)
        return 0

    sizes = ["XS"] + [s.strip().upper() for s in args.sizes.split(",") if s.strip().upper() != "XS"]
    unknown = [s for s in sizes if s not in DROPS]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)}: choose from {', '.join(DROPS)}")
    return run_bench(sizes, args.bench_dir)


def run_bench(sizes: list[str], bench_dir: Path) -> int:
    from scripts.bench.end_to_end import run_end_to_end
    from scripts.bench.in_process import run_in_process
    from scripts.bench.parse_speed import measure_parsing
    from scripts.bench.report import print_report
    from scripts.bench.target import bench_target

    bench_dir.mkdir(parents=True, exist_ok=True)
    target = bench_target()
    manifests = {size: drop_files(size, bench_dir) for size in sizes}

    parse_drop = "M" if "M" in manifests else sizes[-1]
    print(f"Parse + validate + aggregate vs csv.reader on the {parse_drop} drop (one core) ...")
    parsing = measure_parsing(manifests[parse_drop])

    runs = run_end_to_end(manifests, target, bench_dir)

    in_process = {}
    for size in sizes:
        print(f"The handler's work in process on the {size} drop (no emulator) ...", flush=True)
        in_process[size] = run_in_process(size, bench_dir)
    print_report(runs, parsing, parse_drop, in_process, target.memory_mb)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench",
        description="``make bench``: the pipeline end to end on the embedded emulator, against the "
                    "original design.")
    parser.add_argument("--sizes", default="S,M", help="drop sizes besides XS: any of S,M,L")
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--drop", help=argparse.SUPPRESS)
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--handler", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--table-key", help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    sys.exit(main())
