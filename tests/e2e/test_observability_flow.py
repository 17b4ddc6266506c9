"""`make logs` and `make tail` against a running sandbox, as a person uses them."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from tests.conftest import PROJECT_DIR, SAMPLE_BATCH, assert_sample_messages, sample_bytes
from tests.e2e.conftest import run

pytestmark = pytest.mark.e2e


def make(sandbox, *args: str) -> str:
    return run(["make", "-s", *args], sandbox.base_env).stdout


def test_logs_show_each_invocation_and_tail_shows_messages_without_taking_them(running_sandbox, tmp_path):
    bucket = running_sandbox.env["INGEST_BUCKET"]
    for kind in ("orders", "customers", "items"):
        path = tmp_path / f"{kind}_{SAMPLE_BATCH}.csv"
        path.write_bytes(sample_bytes(kind))
        running_sandbox.awslocal("s3", "cp", str(path), f"s3://{bucket}/")
    bad = tmp_path / "items_broken.csv"
    bad.write_bytes(b"item_id,order_id\n501,\n")
    running_sandbox.awslocal("s3", "cp", str(bad), f"s3://{bucket}/")

    # The runner invokes up to 10 at once, as Lambda does: the lines come in any order.
    deadline = time.monotonic() + 60
    logs = make(running_sandbox, "logs", "ONCE=1")
    while (("items_broken.csv ->" not in logs or "published revision 1" not in logs)
           and time.monotonic() < deadline):
        time.sleep(0.5)
        logs = make(running_sandbox, "logs", "ONCE=1")

    lines = [line for line in logs.splitlines() if " -> " in line]
    assert any(f"orders_{SAMPLE_BATCH}.csv -> on_csv_uploaded: accepted, 5 rows" in line
               and line.endswith(" ms") for line in lines)
    assert any("published revision 1 (3 messages)" in line for line in lines)
    [broken] = [line for line in lines if "items_broken.csv" in line]
    assert "line 2, column 'order_id': the value is missing" in broken
    assert "reports/broken/items_broken.csv.json" in broken
    assert not any(line.startswith("{") for line in logs.splitlines())  # JSON only with VERBOSE=1

    tail = make(running_sandbox, "tail", "ONCE=1")
    rows = [line for line in tail.splitlines() if SAMPLE_BATCH in line]
    assert len(rows) == 3 and "John Doe" in tail and "400.00" in tail
    assert_sample_messages(running_sandbox.receive(3), SAMPLE_BATCH)  # still there for a consumer


def test_tail_prints_an_offloaded_message_s_own_json_and_when_a_taken_message_was_sent(
        running_sandbox, tmp_path):
    # One customer with 25,000 orders: its message is over SQS's 1 MiB and goes through S3.
    run([sys.executable, "-m", "scripts.generate", "--customers", "1", "--orders", "25000", "--items",
         "25000", "--batch", "huge", "--seed", "3", "--out", str(tmp_path)], running_sandbox.base_env)
    running_sandbox.awslocal("s3", "cp", "--recursive", "--exclude", "*", "--include", "*.csv",
                             str(tmp_path / "huge"),
                             f"s3://{running_sandbox.env['INGEST_BUCKET']}/large/")

    deadline = time.monotonic() + 60
    while " huge " not in (tail := make(running_sandbox, "tail", "ONCE=1", "JSON=1")):
        assert time.monotonic() < deadline, tail
        time.sleep(0.5)
    lines = tail.splitlines()
    [row] = [n for n, line in enumerate(lines) if " huge " in line]
    body = json.loads(lines[row + 1], parse_float=Decimal)
    assert body["batch_id"] == "huge" and len(body["orders"]) == 25000
    assert Decimal(lines[row].split()[-1]) == body["total_amount_spent"]

    taken = make(running_sandbox, "tail", "CONSUME=1", "ONCE=1")
    [row_taken] = [line for line in taken.splitlines() if " huge " in line]
    assert re.match(r"\d\d:\d\d:\d\d ", row_taken), row_taken  # the time it was sent


def test_a_reader_that_stops_early_ends_make_logs_quietly(tmp_path):
    line = "2026-12-07 10:00:00,000 INFO event_runner orders_b.csv -> on_csv_uploaded: accepted, 5 rows"
    (tmp_path / "runner.log").write_text((line + "\n") * 20000)  # more than a pipe holds
    env = {**os.environ, "SANDBOX_DIR": str(tmp_path)}
    logs = subprocess.Popen(["make", "-s", "logs", "ONCE=1"], cwd=PROJECT_DIR, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert logs.stdout is not None and "orders_b.csv" in logs.stdout.readline()
    logs.stdout.close()  # as `head -1` does

    _, errors = logs.communicate(timeout=60)
    assert logs.returncode == 0 and "Traceback" not in errors and "Error" not in errors, errors
