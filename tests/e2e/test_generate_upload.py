"""A generated drop through `make generate` and `make upload`, checked against its manifest."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.e2e.conftest import run

pytestmark = pytest.mark.e2e


def test_a_generated_drop_is_uploaded_followed_and_published_exactly(running_sandbox):
    make = ["make", "-s"]
    generated = run([*make, "generate", "BATCH=gen", "CUSTOMERS=40", "ORDERS=300", "ITEMS=700",
                     "ORPHANS=0.05", "SEED=7"], running_sandbox.base_env)
    folder = running_sandbox.directory / "generated" / "gen"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert f"Wrote {folder}" in generated.stdout
    assert manifest["orphan_orders"] > 0 and manifest["orphan_items"] > 0

    uploaded = run([*make, "upload", f"DIR={folder}"], running_sandbox.base_env)

    assert "uploading 3 file(s)" in uploaded.stderr and "100.0%" in uploaded.stderr
    for kind, rows in (("customers", 40), ("orders", 300), ("items", 700)):
        assert f"gen: {kind} accepted ({rows:,} rows)" in uploaded.stdout
    assert "gen: published revision 1, 40 messages" in uploaded.stdout
    bodies = running_sandbox.receive(40)
    assert len({b["id"] for b in bodies}) == 40
    assert sum((b["total_amount_spent"] for b in bodies), Decimal("0")) == Decimal(manifest["total_amount"])
    status = run([*make, "status", "BATCH=gen"], running_sandbox.base_env).stdout
    orders, items = manifest["orphan_orders"], manifest["orphan_items"]
    assert (f"Orphans: {orders} order{'s' if orders != 1 else ''} without customer, "
            f"{items} item{'s' if items != 1 else ''} without order") in status
