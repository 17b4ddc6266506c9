"""Fixtures shared by every tier."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis profiles (HYPOTHESIS_PROFILE): `dev`, the default, draws new examples on
# every run and remembers failing ones in .hypothesis/, so that a developer's runs keep
# exploring; `ci` (.ci/run) draws the same examples every run, so that a landing fails
# only on a change, never on a newly drawn example (that is found on a developer's run,
# whose failure prints the blob that reproduces it: @reproduce_failure).
settings.register_profile("dev", print_blob=True)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
SAMPLE_BATCH = "20230828"

# What SEED-BEHAVIOUR.md says the sample batch must give, written out plainly.
SAMPLE_EXPECTED = {
    "1": ("John Doe", "400.00", {"1001": ("250.00", ["501", "502"]), "1002": ("150.00", ["503"])}),
    "2": ("Jane Smith", "300.00", {"1003": ("300.00", ["504"])}),
    "3": ("Alice Johnson", "200.00", {"1004": ("120.00", ["505"]), "1005": ("80.00", ["506"])}),
}


def sample_bytes(kind: str) -> bytes:
    return (DATA_DIR / f"{kind}_{SAMPLE_BATCH}.csv").read_bytes()


def assert_sample_messages(bodies: list[dict], batch_id: str, revision: int = 1) -> None:
    """The messages of one batch equal SEED-BEHAVIOUR.md's totals, exactly, once each."""
    by_id = {}
    for body in bodies:
        assert body["id"] not in by_id, f"customer {body['id']} published twice"
        by_id[body["id"]] = body
    assert sorted(by_id) == sorted(SAMPLE_EXPECTED)
    for customer_id, (name, total, orders) in SAMPLE_EXPECTED.items():
        body = by_id[customer_id]
        assert body["name"] == name
        assert str(body["total_amount_spent"]) == total  # exact digits, parsed as Decimal
        assert body["batch_id"] == batch_id
        assert body["revision"] == revision
        assert {o["id"]: (str(o["amount"]), o["item_ids"]) for o in body["orders"]} == orders


@pytest.fixture
def aws_credentials(monkeypatch):
    """Dummy credentials and no endpoint override: nothing can reach a real account."""
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_SESSION_TOKEN": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
