"""Generate a drop of partner files (customers, orders, items) for load tests and benchmarks.

    python -m scripts.generate --customers 1000 --orders 5000 --items 15000 --batch bench-s

writes ``customers_<batch>.csv``, ``orders_<batch>.csv`` and ``items_<batch>.csv``
to ``--out/<batch>/`` (``$SANDBOX_DIR/generated``, i.e. ``.sandbox/generated``, by
default: outside git) and a
``manifest.json`` with what the pipeline must make of them: the customer
count, the exact total amount of orders that belong to a known customer, and
the orphan and invalid row counts. The same seed gives the same bytes.

Orders are spread over customers at random, items over orders. ``--orphans``
is the share of orders whose customer is not in the customers file, and of
items whose order is not in the orders file; ``--invalid`` the share of order
rows with an invalid amount (the pipeline rejects such a file whole).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

from chalicelib.kinds import CUSTOMERS, ITEMS, KINDS, ORDERS, FileKind
from scripts import cli
from scripts.progress import Progress
from scripts.sandbox.state import sandbox_dir

_STEP = 10_000  # rows made and written at once


@dataclass
class Manifest:
    batch_id: str
    seed: int
    customers: int
    orders: int
    items: int
    orphan_orders: int
    orphan_items: int
    invalid_rows: int
    total_amount: str  # of orders with a known customer, exact
    files: dict[str, str]


@dataclass
class _Made:
    """What the pipeline must make of the rows, counted as they are made."""

    total_cents: int = 0  # of orders with a known customer
    orphan_orders: int = 0
    orphan_items: int = 0
    invalid_rows: int = 0


def generate(out_dir: Path, batch_id: str, customers: int, orders: int, items: int,
             seed: int = 1, orphans: float = 0.0, invalid: float = 0.0,
             progress: bool = True) -> Manifest:
    rng = random.Random(seed)
    folder = out_dir / batch_id
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"{kind}_{batch_id}.csv" for kind in KINDS}
    bar = Progress(customers + orders + items, f"generating {batch_id}") if progress else None
    made = _Made()
    # In this order: the same seed must give the same bytes.
    _write(paths[CUSTOMERS.name], CUSTOMERS, _customer_lines(customers), bar)
    _write(paths[ORDERS.name], ORDERS, _order_lines(rng, customers, orders, orphans, invalid, made), bar)
    _write(paths[ITEMS.name], ITEMS, _item_lines(rng, orders, items, orphans, made), bar)
    if bar:
        bar.finish()

    manifest = Manifest(batch_id, seed, customers, orders, items, made.orphan_orders, made.orphan_items,
                        made.invalid_rows, str(Decimal(made.total_cents).scaleb(-2)),
                        {kind: str(path) for kind, path in paths.items()})
    (folder / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def _write(path: Path, kind: FileKind, blocks: Iterator[list[str]], bar: Progress | None) -> None:
    """The file: the kind's header, then the lines (their values in the order of its columns)."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(kind.header + "\n")
        for lines in blocks:
            out.write("".join(lines))
            if bar:
                bar.advance(len(lines))


def _steps(count: int) -> Iterator[range]:
    for start in range(0, count, _STEP):
        yield range(start, min(count, start + _STEP))


def _customer_lines(customers: int) -> Iterator[list[str]]:
    for numbers in _steps(customers):
        yield [f"{n},Customer {n}\n" for n in numbers]


def _order_lines(rng: random.Random, customers: int, orders: int, orphans: float, invalid: float,
                 made: _Made) -> Iterator[list[str]]:
    """Orders spread over the customers at random, ``orphans`` of them of no known customer
    and ``invalid`` of them with an amount that is no number."""
    for numbers in _steps(orders):
        lines = []
        for n in numbers:
            cents = rng.randrange(1, 100_000)
            if invalid and rng.random() < invalid:
                made.invalid_rows += 1
                lines.append(f"o{n},{rng.randrange(customers)},{cents / 100}x\n")
            elif orphans and rng.random() < orphans:
                made.orphan_orders += 1
                lines.append(f"o{n},unknown-{n},{cents // 100}.{cents % 100:02d}\n")
            else:
                made.total_cents += cents
                lines.append(f"o{n},{rng.randrange(customers)},{cents // 100}.{cents % 100:02d}\n")
        yield lines


def _item_lines(rng: random.Random, orders: int, items: int, orphans: float,
                made: _Made) -> Iterator[list[str]]:
    """Items spread over the orders at random, ``orphans`` of them of no known order."""
    for numbers in _steps(items):
        lines = []
        for n in numbers:
            if orphans and rng.random() < orphans:
                made.orphan_items += 1
                lines.append(f"i{n},unknown-{n}\n")
            else:
                lines.append(f"i{n},o{rng.randrange(orders)}\n")
        yield lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=5000, help="orders in total")
    parser.add_argument("--items", type=int, default=15000, help="items in total")
    parser.add_argument("--batch", default="generated", help="batch id (letters, digits, . and -)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--orphans", type=float, default=0.0, help="share of orphan orders and items, 0-1")
    parser.add_argument("--invalid", type=float, default=0.0, help="share of invalid order rows, 0-1")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: .sandbox/generated)")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.orders < 0 or args.items < 0:
        parser.error("--customers must be at least 1, --orders and --items at least 0")
    for name, share in (("ORPHANS", args.orphans), ("INVALID", args.invalid)):
        if not 0 <= share <= 1:
            # Said once, without the usage block: the make variable is what the user typed.
            print(f"error: {name}={share:g} is not a fraction between 0 and 1: "
                  f"{name}=0.05 means 5% of the rows", file=sys.stderr)
            return 2
    out = args.out or sandbox_dir() / "generated"
    manifest = generate(out, args.batch, args.customers, args.orders, args.items,
                        args.seed, args.orphans, args.invalid)
    print(f"Wrote {out / args.batch}: {manifest.customers:,} customers, {manifest.orders:,} orders "
          f"({manifest.orphan_orders:,} orphans, {manifest.invalid_rows:,} invalid), "
          f"{manifest.items:,} items ({manifest.orphan_items:,} orphans); "
          f"total amount {manifest.total_amount}")
    return 0


if __name__ == "__main__":
    cli.run(main)
