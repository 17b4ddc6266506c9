"""After a crash the sandbox recovers promptly and says what it lost; an outage does not end it.

A killed runner's events run again as soon as `make local-up` starts a new
one, and its environments die with it; a runner stopped with SIGTERM stops at
once and hands its events back; a stopped emulator makes the runner wait, not
end; and an emulator that crashed is restarted empty, with a plain word and
the old logs kept.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR, SAMPLE_BATCH, assert_sample_messages
from tests.e2e.conftest import VENV_BIN, RunningSandbox, free_port, pid_running, port_open
from tests.e2e.test_runner_like_lambda import MISBEHAVING, upload, wait_for_line


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def busy_environment(sandbox: RunningSandbox) -> dict | None:
    try:
        functions = json.loads((sandbox.directory / "environments.json").read_text())["functions"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None
    return next((e for f in functions for e in f["environments"] if e["state"] == "busy"), None)


@pytest.fixture
def misbehaving(tmp_path):
    sandbox = RunningSandbox(tmp_path / "sandbox", free_port())
    sandbox.directory.mkdir()
    sandbox.base_env.update(RUNNER_PROJECT_DIR=str(MISBEHAVING), MISBEHAVING_DIR=str(tmp_path))
    with sandbox.started():
        yield sandbox


def test_a_killed_runner_s_event_runs_again_at_once_when_local_up_starts_a_new_runner(misbehaving, tmp_path):
    upload(misbehaving, tmp_path, "sleep-4.txt")
    worker = wait_until(lambda: busy_environment(misbehaving), 30, "no environment took the event")
    _, runner = misbehaving.pids()

    os.kill(runner, signal.SIGKILL)

    # Its execution environment does not outlive it (no timeout or memory limit would hold it).
    wait_until(lambda: not pid_running(worker["pid"]), 10, "the killed runner's environment kept running")
    restarted_at = time.monotonic()
    up = misbehaving.sandbox("up").stdout
    assert "Restarted the event runner" in up
    lines = wait_for_line(misbehaving, "sleep-4.txt -> on_csv_uploaded: done", timeout=60)
    assert time.monotonic() - restarted_at < 30  # at once, not after the queue's timeout
    assert any("took back 1 event" in line for line in lines)


def test_a_runner_stopped_with_sigterm_stops_at_once_and_hands_its_event_to_the_next(misbehaving, tmp_path):
    upload(misbehaving, tmp_path, "sleep-20.txt")
    worker = wait_until(lambda: busy_environment(misbehaving), 30, "no environment took the event")
    _, runner = misbehaving.pids()

    stopping = time.monotonic()
    os.kill(runner, signal.SIGTERM)
    wait_until(lambda: not pid_running(runner), 5, "the runner did not stop promptly on SIGTERM")

    assert time.monotonic() - stopping < 5
    assert not pid_running(worker["pid"])
    wait_for_line(misbehaving, "1 event handed back to the queue for the next runner")
    log = (misbehaving.directory / "runner.log").read_text()
    assert "dead-letter" not in log and "attempt 1/3 failed" not in log  # not its failure
    misbehaving.sandbox("up")
    wait_until(lambda: busy_environment(misbehaving), 30, "the next runner did not take the event")


@contextlib.contextmanager
def moto_server_on(port: int, log: Path):
    with open(log, "ab") as output:
        process = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: port_open(port), 30, "moto_server did not start")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def upload_sample(sandbox: RunningSandbox, folder: str) -> None:
    for kind in ("customers", "orders", "items"):
        sandbox.awslocal("s3", "cp", str(DATA_DIR / f"{kind}_{SAMPLE_BATCH}.csv"),
                         f"s3://{sandbox.env['INGEST_BUCKET']}/{folder}/")


def test_an_emulator_that_stops_answering_does_not_end_the_runner(tmp_path):
    port = free_port()
    sandbox = RunningSandbox(tmp_path / "sandbox", free_port()).use_external(port)
    sandbox.directory.mkdir()
    try:
        with moto_server_on(port, tmp_path / "moto.log"):
            sandbox.sandbox("up")
            wait_for_line(sandbox, "event runner started")
            _, runner = sandbox.pids()
        # The emulator is gone now; the runner waits for it and says so.
        wait_for_line(sandbox, "does not answer", timeout=30)
        assert pid_running(runner)
        with moto_server_on(port, tmp_path / "moto.log"):
            sandbox.sandbox("up")  # provisions the new emulator; the runner still runs
            sandbox.load_env()
            assert sandbox.pids()[1] == runner
            upload_sample(sandbox, "after-outage")
            assert_sample_messages(sandbox.receive(3), SAMPLE_BATCH)
            wait_for_line(sandbox, "answers again")
    finally:
        sandbox.sandbox("down", check=False)


def test_a_runner_whose_sandbox_is_gone_stops_instead_of_serving_the_next_emulator_there(tmp_path):
    port = free_port()
    sandbox = RunningSandbox(tmp_path / "sandbox", free_port()).use_external(port)
    sandbox.directory.mkdir()
    with moto_server_on(port, tmp_path / "moto.log"):
        sandbox.sandbox("up")
        wait_for_line(sandbox, "event runner started")
        _, runner = sandbox.pids()
    try:
        wait_for_line(sandbox, "does not answer", timeout=30)
        # The sandbox is forgotten (as `rm -rf .sandbox` leaves it): whatever answers on that
        # port next, another user's or another clone's emulator, is not this runner's to serve.
        (sandbox.directory / "state.json").unlink()
        deadline = time.monotonic() + 30
        while pid_running(runner):
            assert time.monotonic() < deadline, "the runner went on waiting for the emulator"
            time.sleep(0.2)
        wait_for_line(sandbox, "the runner stops, and takes nothing from an emulator")
    finally:
        if pid_running(runner):
            os.killpg(runner, signal.SIGKILL)


def test_local_up_after_an_emulator_crash_says_it_starts_empty_and_keeps_the_old_logs(tmp_path):
    sandbox = RunningSandbox(tmp_path / "sandbox", free_port())
    sandbox.directory.mkdir()
    with sandbox.started():
        upload_sample(sandbox, "before-crash")
        assert_sample_messages(sandbox.receive(3), SAMPLE_BATCH)
        emulator, _ = sandbox.pids()
        os.kill(emulator, signal.SIGKILL)
        wait_until(lambda: not pid_running(emulator), 10, "the emulator did not die")

        up = sandbox.sandbox("up").stdout

        assert "is gone" in up and "starts EMPTY" in up, up
        kept = [line for line in up.splitlines() if "logs are kept in" in line]
        assert kept, up
        folder = Path(kept[0].rsplit("logs are kept in ", 1)[1].rstrip("."))
        assert "before-crash/items_20230828.csv -> on_csv_uploaded" in (folder / "runner.log").read_text()
        sandbox.load_env()
        listed = sandbox.awslocal("s3", "ls", f"s3://{sandbox.env['INGEST_BUCKET']}/", "--recursive").stdout
        assert listed == ""  # empty indeed, as it said


def test_local_down_says_what_the_embedded_emulator_drops(tmp_path):
    sandbox = RunningSandbox(tmp_path / "sandbox", free_port())
    sandbox.directory.mkdir()
    sandbox.sandbox("up")
    sandbox.load_env()
    upload_sample(sandbox, "dropped")
    wait_for_line(sandbox, "published revision 1")
    sandbox.awslocal("s3", "cp", str(DATA_DIR / f"orders_{SAMPLE_BATCH}.csv"),
                     f"s3://{sandbox.env['INGEST_BUCKET']}/waiting/")
    wait_for_line(sandbox, "waiting for customers, items")

    down = sandbox.sandbox("down").stdout

    assert ("keeps nothing once it stops: dropping 5 objects in the buckets, 1 batch not yet "
            "published and 1 published batch, 3 unread messages (3 on the output queue, 0 on the "
            "dead-letter queue)") in down, down
