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
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

from scripts.progress import Progress
from scripts.sandbox.state import sandbox_dir


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


def generate(out_dir: Path, batch_id: str, customers: int, orders: int, items: int,
             seed: int = 1, orphans: float = 0.0, invalid: float = 0.0,
             progress: bool = True) -> Manifest:
    rng = random.Random(seed)
    folder = out_dir / batch_id
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"{kind}_{batch_id}.csv" for kind in ("customers", "orders", "items")}
    bar = Progress(customers + orders + items, f"generating {batch_id}") if progress else None
    step = 10_000

    with open(paths["customers"], "w", encoding="utf-8", newline="") as out:
        out.write("customer_id,customer_name\n")
        for start in range(0, customers, step):
            out.write("".join(f"{n},Customer {n}\n" for n in range(start, min(customers, start + step))))
            bar and bar.advance(min(step, customers - start))

    total_cents = 0
    orphan_orders = invalid_rows = 0
    with open(paths["orders"], "w", encoding="utf-8", newline="") as out:
        out.write("order_id,customer_id,amount\n")
        for start in range(0, orders, step):
            lines = []
            for n in range(start, min(orders, start + step)):
                cents = rng.randrange(1, 100_000)
                if invalid and rng.random() < invalid:
                    invalid_rows += 1
                    lines.append(f"o{n},{rng.randrange(customers)},{cents / 100}x\n")
                elif orphans and rng.random() < orphans:
                    orphan_orders += 1
                    lines.append(f"o{n},unknown-{n},{cents // 100}.{cents % 100:02d}\n")
                else:
                    total_cents += cents
                    lines.append(f"o{n},{rng.randrange(customers)},{cents // 100}.{cents % 100:02d}\n")
            out.write("".join(lines))
            bar and bar.advance(len(lines))

    orphan_items = 0
    with open(paths["items"], "w", encoding="utf-8", newline="") as out:
        out.write("item_id,order_id\n")
        for start in range(0, items, step):
            lines = []
            for n in range(start, min(items, start + step)):
                if orphans and rng.random() < orphans:
                    orphan_items += 1
                    lines.append(f"i{n},unknown-{n}\n")
                else:
                    lines.append(f"i{n},o{rng.randrange(orders)}\n")
            out.write("".join(lines))
            bar and bar.advance(len(lines))
    if bar:
        bar.finish()

    manifest = Manifest(batch_id, seed, customers, orders, items, orphan_orders, orphan_items,
                        invalid_rows, str(Decimal(total_cents).scaleb(-2)),
                        {kind: str(path) for kind, path in paths.items()})
    (folder / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


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
    sys.exit(main())
