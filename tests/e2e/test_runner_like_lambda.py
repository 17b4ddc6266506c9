"""The background runner runs the function as Lambda does: concurrently, in reused
environments, under the stage's timeout and memory, with a REPORT line each.

A small app that misbehaves on request (tests/apps/misbehaving, through
RUNNER_PROJECT_DIR) times out, dies and runs out of memory; the pipeline's own
app shows that concurrent completions still publish each batch once.
"""
from __future__ import annotations

import json
import time

import pytest

from scripts.sandbox.report import parse_report
from tests.conftest import PROJECT_DIR, SAMPLE_BATCH, assert_sample_messages
from tests.e2e.conftest import RunningSandbox, free_port

MISBEHAVING = PROJECT_DIR / "tests" / "apps" / "misbehaving"
TIMEOUT_SECONDS, MEMORY_MB = 2, 200


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory):
    directory = tmp_path_factory.mktemp("misbehaving")
    sandbox = RunningSandbox(directory, free_port())
    sandbox.base_env.update(RUNNER_PROJECT_DIR=str(MISBEHAVING), MISBEHAVING_DIR=str(directory),
                            RUNNER_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
                            RUNNER_MEMORY_MB=str(MEMORY_MB))
    try:
        with sandbox.started():
            yield sandbox
    finally:
        if (directory / "runner.log").exists():
            print((directory / "runner.log").read_text()[-8000:])


def upload(sandbox: RunningSandbox, tmp_path, *names: str) -> None:
    folder = tmp_path / "upload"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_text("x")
    # One recursive copy: awscli sends the files at once, on threads of its own.
    sandbox.awslocal("s3", "cp", "--recursive", str(folder), f"s3://{sandbox.env['INGEST_BUCKET']}/")


def runner_log(sandbox: RunningSandbox) -> list[str]:
    return (sandbox.directory / "runner.log").read_text().splitlines()


def wait_for_line(sandbox: RunningSandbox, text: str, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = runner_log(sandbox)
        if any(text in line for line in lines):
            return lines
        time.sleep(0.3)
    raise AssertionError(f"no line with {text!r} in the runner's log:\n"
                         + "\n".join(runner_log(sandbox)[-40:]))


def dead_letters(sandbox: RunningSandbox, key: str, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    found = []
    while not found and time.monotonic() < deadline:
        result = sandbox.awslocal("sqs", "receive-message",
                                  "--queue-url", sandbox.env["DEAD_LETTER_QUEUE_URL"],
                                  "--max-number-of-messages", "10", "--wait-time-seconds", "1",
                                  "--visibility-timeout", "0")
        records = [json.loads(m["Body"]) for m in json.loads(result.stdout or "{}").get("Messages", [])]
        found = [r for r in records if r["requestPayload"]["Records"][0]["s3"]["object"]["key"] == key]
    return found


def reports(lines: list[str]) -> list:
    return [r for r in map(parse_report, lines) if r is not None]


def test_a_handler_that_outlives_the_timeout_is_stopped_retried_and_dead_lettered(misbehaving, tmp_path):
    upload(misbehaving, tmp_path, "sleep-30.txt")

    [record] = dead_letters(misbehaving, "sleep-30.txt")
    assert record["responsePayload"]["errorMessage"] == f"Task timed out after {TIMEOUT_SECONDS:.2f} seconds"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    lines = runner_log(misbehaving)
    failed = [line for line in lines if "sleep-30.txt -> on_csv_uploaded: attempt" in line]
    assert len(failed) == 3 and all("Task timed out after 2.00 seconds" in line for line in failed)
    timed_out = [r for r in reports(lines) if r.status == "timeout"]
    assert len(timed_out) == 3
    assert all(TIMEOUT_SECONDS * 1000 <= r.duration_ms < TIMEOUT_SECONDS * 1000 + 1000 for r in timed_out)
    # Each stopped environment was replaced: every attempt was a cold start.
    assert all(r.init_duration_ms is not None for r in timed_out)


def test_an_environment_that_dies_is_replaced_and_its_event_retried(misbehaving, tmp_path):
    upload(misbehaving, tmp_path, "exit-once-a.txt")

    lines = wait_for_line(misbehaving, "exit-once-a.txt -> on_csv_uploaded: done")
    [failed] = [line for line in lines if "exit-once-a.txt -> on_csv_uploaded: attempt 1/3 failed" in line]
    assert "Runtime exited with error: exit status 1" in failed
    [done] = [line for line in lines if "exit-once-a.txt -> on_csv_uploaded: done" in line]
    assert ", init " in done  # the retry ran in a new environment: a cold start
    assert dead_letters(misbehaving, "exit-once-a.txt", timeout=3) == []


def test_an_invocation_that_outgrows_the_memory_is_stopped_reported_and_dead_lettered(misbehaving, tmp_path):
    upload(misbehaving, tmp_path, "alloc-400.txt")

    [record] = dead_letters(misbehaving, "alloc-400.txt")
    assert record["responsePayload"]["errorMessage"].startswith("Runtime exited with error: signal: killed")
    assert record["responsePayload"]["errorType"] == "Runtime.OutOfMemory"
    out_of_memory = [r for r in reports(runner_log(misbehaving)) if r.error_type == "Runtime.OutOfMemory"]
    assert len(out_of_memory) == 3
    assert all(r.memory_size_mb == MEMORY_MB and r.max_memory_used_mb > MEMORY_MB for r in out_of_memory)


def test_concurrent_invocations_run_in_reused_environments_with_a_report_each(misbehaving, tmp_path):
    names = [f"sleep-1.{n}.txt" for n in range(6)]
    # sleep-1.0 ... sleep-1.5: 1.0 to 1.5 s each, 7.5 s one after the other.
    started = time.monotonic()
    upload(misbehaving, tmp_path, *names)
    for name in names:
        lines = wait_for_line(misbehaving, f"{name} -> on_csv_uploaded: done")
    elapsed = time.monotonic() - started

    done = [line for line in lines if "sleep-1." in line and "on_csv_uploaded: done" in line]
    assert len(done) == 6
    ours = [r for r in reports(lines) if 1000 <= r.duration_ms < 2500 and r.status == ""]
    assert len(ours) >= 6
    # Three at a time (the app's reserved concurrency), not one by one: less than
    # the invocations and their cold starts would take in a row.
    in_a_row = sum(r.duration_ms + (r.init_duration_ms or 0) for r in ours[-6:]) / 1000
    assert elapsed < in_a_row
    assert sum(1 for r in ours[-6:] if r.init_duration_ms is not None) <= 3  # the rest ran warm
    for report in ours:
        assert report.memory_size_mb == MEMORY_MB and 0 < report.max_memory_used_mb < MEMORY_MB
        assert report.billed_duration_ms >= report.duration_ms
    status = misbehaving.sandbox("status").stdout
    assert "environments:" in status and "of 3 for on_csv_uploaded" in status
    [pool] = json.loads((misbehaving.directory / "environments.json").read_text())["functions"]
    environments = pool["environments"]
    assert 1 <= len(environments) <= 3
    assert sum(e["invocations"] for e in environments) >= 6 > len(environments)  # warm ones were reused


def test_many_batches_uploaded_at_once_publish_each_batch_once(running_sandbox, tmp_path):
    """Concurrency 10 (the stage's): five batches' fifteen files at the same instant, so
    the three files of a batch complete it at nearly the same moment."""
    folder = tmp_path / "at-once"
    folder.mkdir()
    batches = [f"race{n}" for n in range(5)]
    for batch in batches:
        for kind in ("customers", "orders", "items"):
            text = (PROJECT_DIR / "data" / f"{kind}_{SAMPLE_BATCH}.csv").read_text()
            (folder / f"{kind}_{batch}.csv").write_text(text)
    running_sandbox.awslocal("s3", "cp", "--recursive", str(folder),
                             f"s3://{running_sandbox.env['INGEST_BUCKET']}/at-once/")

    bodies = running_sandbox.receive(3 * len(batches), timeout=90)
    bodies += running_sandbox.receive(1, timeout=5)  # a duplicate would arrive here
    for batch in batches:
        assert_sample_messages([b for b in bodies if b["batch_id"] == batch], batch)
