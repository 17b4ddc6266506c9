"""Chaos mode end to end: batches through the real runner while the sandbox is AWS at its worst.

Several generated batches (two of them uploaded again with changed orders) go
through `make local-up CHAOS=...`, and every message on the output queue is
checked against totals computed here from the uploaded files, independently
of the pipeline: each batch's latest revision is exact and complete, no batch
is lost, nothing is dead-lettered. With the faults that never cut a
publication short (duplicates, late events, throttling, 500s, partial
batches), no (folder, batch, customer, revision) arrives twice either.
"""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.messages import from_json
from scripts.sandbox.chaos.settings import FAULT_MARK
from tests.e2e.conftest import RunningSandbox, free_port

BATCHES = 5
# Enough customers that a publication takes a while: a duplicate then runs while it sends.
CUSTOMERS = 400
CHANGED = ("chaos-1", "chaos-3")  # uploaded again with other amounts once published
FOLDER = "partner-chaos"
KINDS = ("customers", "orders", "items")


def generate(out: Path, batch: str, seed: int) -> Path:
    subprocess.run([sys.executable, "-m", "scripts.generate", "--customers", str(CUSTOMERS),
                    "--orders", str(3 * CUSTOMERS), "--items", str(8 * CUSTOMERS), "--batch", batch,
                    "--seed", str(seed), "--out", str(out)],
                   check=True, capture_output=True)
    return out / batch


def expected(files: Path, batch: str) -> dict[str, tuple]:
    """Each customer's message, computed from the files: {id: (name, total, {order: (amount, items)})}."""
    def rows(kind):
        with open(files / f"{kind}_{batch}.csv", newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    items = defaultdict(list)
    for row in rows("items"):
        items[row["order_id"]].append(row["item_id"])
    orders = defaultdict(dict)
    for row in rows("orders"):
        orders[row["customer_id"]][row["order_id"]] = (Decimal(row["amount"]), sorted(items[row["order_id"]]))
    return {row["customer_id"]: (row["customer_name"],
                                 sum((a for a, _ in orders[row["customer_id"]].values()), Decimal("0")),
                                 dict(orders[row["customer_id"]]))
            for row in rows("customers")}


def as_expected(body: dict) -> tuple:
    return (body["name"], Decimal(str(body["total_amount_spent"])),
            {o["id"]: (Decimal(str(o["amount"])), sorted(o["item_ids"])) for o in body["orders"]})


def etag(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def upload(sandbox: RunningSandbox, path: Path, batch: str) -> None:
    """`awslocal s3 cp` of a file, or of a folder's CSV files (``--recursive``, in parallel)."""
    recursive = ["--recursive", "--exclude", "*", "--include", "*.csv"] if path.is_dir() else []
    sandbox.awslocal("s3", "cp", *recursive, str(path), f"s3://{sandbox.env['INGEST_BUCKET']}/{FOLDER}/{batch}/")


def status(sandbox: RunningSandbox, batch: str) -> dict:
    """`make status`'s JSON for ``batch``. It exits 1 for a batch none of whose files has been
    processed yet, which under late delivery is a batch polled early: still a status to read."""
    result = subprocess.run([sys.executable, "-m", "scripts.status", "--json", f"{FOLDER}/{batch}/{batch}"],
                            env=sandbox.env, capture_output=True, text=True,
                            cwd=Path(__file__).parents[2])
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise AssertionError(f"make status {batch} failed ({result.returncode}): {result.stderr}")
    found = json.loads(result.stdout)
    assert found["known"] == (result.returncode == 0), result.stdout
    return found


def queue_counts(sandbox: RunningSandbox, url: str) -> int:
    attributes = json.loads(sandbox.awslocal(
        "sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names",
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed").stdout)["Attributes"]
    return sum(int(v) for v in attributes.values())


def peek(sandbox: RunningSandbox, url: str) -> list[dict]:
    """Every message on the queue, without receiving it (the emulator's read-only endpoint)."""
    query = urllib.parse.urlencode({"QueueUrl": url})
    with urllib.request.urlopen(f"{sandbox.env['AWS_ENDPOINT_URL']}/_aws/sqs/messages?{query}") as answer:
        return json.loads(answer.read())["Messages"]


def run_under_chaos(tmp_path: Path, chaos: str, seed: int) -> tuple[dict, list[dict], RunningSandbox]:
    """Upload the batches under ``chaos``; wait until every batch is published from its final
    files and the events queue is empty; return {batch: final files' folder}, the messages, the sandbox."""
    sandbox = RunningSandbox(tmp_path / "sandbox", free_port())
    sandbox.base_env.update(CHAOS=chaos, CHAOS_SEED=str(seed))
    finals: dict[str, Path] = {}
    with sandbox.started() as up:
        assert "Chaos mode is ON" in up
        events_queue_name = f"{sandbox.env['INGEST_BUCKET']}-events"
        events_queue = json.loads(sandbox.awslocal(
            "sqs", "get-queue-url", "--queue-name", events_queue_name).stdout)["QueueUrl"]
        assert not status(sandbox, "chaos-0")["known"]  # what a poll before the first event reads
        for n in range(BATCHES):
            batch = f"chaos-{n}"
            finals[batch] = generate(tmp_path / "first", batch, seed=n + 1)
            upload(sandbox, finals[batch], batch)  # the folder: its three files at once
        for batch in CHANGED:  # once published, new orders (the same ids, other amounts and customers)
            wait_for(lambda batch=batch: status(sandbox, batch)["published"], 180,
                     f"{batch} was not published")
            final = tmp_path / "final" / batch
            final.mkdir(parents=True)
            orders = generate(tmp_path / "second", batch, seed=100 + int(batch[-1])) / f"orders_{batch}.csv"
            for kind in KINDS:
                source = orders if kind == "orders" else finals[batch] / f"{kind}_{batch}.csv"
                shutil.copy(source, final / source.name)
            finals[batch] = final
            upload(sandbox, final / f"orders_{batch}.csv", batch)

        def done() -> bool:
            for batch, files in finals.items():
                found = status(sandbox, batch)
                if not found["published"] or {f["kind"]: f.get("etag") for f in found["files"]} != {
                        kind: etag(files / f"{kind}_{batch}.csv") for kind in KINDS}:
                    return False
            return queue_counts(sandbox, events_queue) == 0
        wait_for(done, 300, "the batches were not all published from their final files")
        messages = peek(sandbox, sandbox.env["OUTPUT_QUEUE_URL"])
        # Kept beside the runner's log: the evidence if a check below fails.
        (sandbox.directory / "messages.json").write_text(json.dumps(messages, indent=1))
        assert queue_counts(sandbox, sandbox.env["DEAD_LETTER_QUEUE_URL"]) == 0
    return finals, messages, sandbox


def wait_for(condition, timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.5)


def check_latest_revisions(finals: dict, messages: list[dict], repeats_allowed: bool) -> dict[str, int]:
    by_key: dict[str, str] = {}
    for message in messages:
        key = message["MessageAttributes"]["idempotency_key"]["StringValue"]
        if key in by_key:
            assert repeats_allowed, f"{key} was published twice under faults that cut nothing short"
            assert message["Body"] == by_key[key], f"a repeat of {key} differs"
        by_key[key] = message["Body"]
    bodies = [from_json(body) for body in by_key.values()]
    latest = {}
    for batch, files in finals.items():
        mine = [b for b in bodies if b["batch_id"] == batch]
        assert mine, f"batch {batch} was lost"
        latest[batch] = max(b["revision"] for b in mine)
        published = {b["id"]: as_expected(b) for b in mine if b["revision"] == latest[batch]}
        assert published == expected(files, batch), f"batch {batch}, revision {latest[batch]}"
    return latest


def injected(sandbox: RunningSandbox) -> set[str]:
    log = (sandbox.directory / "runner.log").read_text()
    return {line.split(FAULT_MARK, 1)[1].split(":", 1)[0] for line in log.splitlines()
            if FAULT_MARK in line}


def test_every_fault_at_once_still_gives_each_batch_s_exact_latest_revision(tmp_path):
    finals, messages, sandbox = run_under_chaos(tmp_path, "all", seed=11)

    check_latest_revisions(finals, messages, repeats_allowed=True)
    # The run really was chaotic: most kinds of fault were injected, and logged.
    assert {"duplicate", "late", "kill", "partial"} <= injected(sandbox), injected(sandbox)


def test_faults_that_cut_nothing_short_publish_each_customer_once_per_revision(tmp_path):
    finals, messages, sandbox = run_under_chaos(
        tmp_path, "duplicate=0.5,late=0.4,throttle=0.1,error=0.02,partial=0.2", seed=5)

    latest = check_latest_revisions(finals, messages, repeats_allowed=False)
    assert {latest[batch] for batch in CHANGED} == {2}
    assert {"duplicate", "late", "throttle", "partial"} <= injected(sandbox), injected(sandbox)


@pytest.mark.parametrize("spec", ["nonsense", "kill=2"])
def test_a_chaos_setting_that_makes_no_sense_is_refused_with_what_to_say(tmp_path, spec):
    sandbox = RunningSandbox(tmp_path / "sandbox", free_port())
    sandbox.base_env.update(CHAOS=spec)
    result = sandbox.sandbox("up", check=False)
    sandbox.sandbox("down", check=False)
    assert result.returncode != 0
    assert "CHAOS=" in result.stderr and ("duplicate" in result.stderr or "from 0 to 1" in result.stderr)
