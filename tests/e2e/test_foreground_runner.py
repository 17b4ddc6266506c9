"""`make local-run` and a running sandbox: the runner in the foreground is the sandbox's
runner while it runs, and `make local-up` reuses a sandbox only as what it is."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, SAMPLE_BATCH
from tests.e2e.conftest import RunningSandbox, free_port, pid_running, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    sandbox = RunningSandbox(tmp_path_factory.mktemp("foreground"), free_port())
    with sandbox.started():
        yield sandbox


def runner_pid(sandbox: RunningSandbox) -> int:
    return json.loads((sandbox.directory / "state.json").read_text())["runner_pid"]


def wait_for_text(path: Path, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while text not in (output := path.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"no {text!r} in:\n{output[-3000:]}"
        time.sleep(0.2)
    return output


def test_the_foreground_runner_is_shown_reused_and_stopped_as_the_sandbox_s_runner(sandbox, tmp_path):
    background = runner_pid(sandbox)
    output = tmp_path / "local-run.out"
    with open(output, "wb") as out:
        foreground = subprocess.Popen(["make", "-s", "local-run"], cwd=PROJECT_DIR, env=sandbox.base_env,
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_text(output, "event runner started")
        assert f"Stopped the event runner that ran (pid {background})" in output.read_text()
        assert not pid_running(background)
        # The foreground runner is the one the sandbox knows of ...
        status = sandbox.sandbox("status")  # exits 0: everything runs
        shown = re.search(r"to the local runner, running \(pid (\d+);", status.stdout)
        assert shown and int(shown[1]) == runner_pid(sandbox) != background, status.stdout
        # ... so `make local-up` starts no second runner to compete for its events ...
        up = sandbox.sandbox("up")
        assert "Restarted the event runner" not in up.stdout and runner_pid(sandbox) == int(shown[1])
        sandbox.awslocal("s3", "cp", f"data/customers_{SAMPLE_BATCH}.csv",
                         f"s3://{sandbox.env['INGEST_BUCKET']}/foreground/")
        wait_for_text(output, f"customers_{SAMPLE_BATCH}.csv -> on_csv_uploaded: accepted")
        # ... and `make local-down` stops it with the rest (TimeoutExpired if it did not).
        sandbox.sandbox("down")
        foreground.wait(timeout=30)
        assert "event runner stopped" in output.read_text()
    finally:
        if foreground.poll() is None:
            os.killpg(foreground.pid, signal.SIGKILL)
            foreground.wait()
        sandbox.sandbox("up")


@pytest.mark.parametrize("requested", ["external", "localstack"])
def test_up_with_another_mode_while_a_sandbox_runs_says_to_stop_it_first(sandbox, requested):
    sandbox.base_env["SANDBOX"] = requested
    try:
        result = sandbox.sandbox("up", check=False)
    finally:
        sandbox.base_env["SANDBOX"] = "embedded"

    assert result.returncode != 0
    assert "already runs here in embedded mode" in result.stderr
    assert "`make local-down`" in result.stderr and f"SANDBOX={requested}" in result.stderr
    assert sandbox.sandbox("status").returncode == 0  # the running one is untouched


def test_up_with_a_mode_that_does_not_exist_is_refused_while_a_sandbox_runs(sandbox):
    sandbox.base_env["SANDBOX"] = "bogus"
    try:
        result = sandbox.sandbox("up", check=False)
    finally:
        sandbox.base_env["SANDBOX"] = "embedded"

    assert result.returncode != 0 and "is not one of auto, embedded, localstack, external" in result.stderr


def test_status_with_the_runner_stopped_says_it_is_down_and_what_starts_it(sandbox):
    stopped = runner_pid(sandbox)
    os.killpg(stopped, signal.SIGKILL)  # as a crash would end it, workers and all
    deadline = time.monotonic() + 10
    while pid_running(stopped):
        assert time.monotonic() < deadline, "the runner did not die"
        time.sleep(0.1)

    status = sandbox.sandbox("status", check=False)
    sandbox.sandbox("up")

    assert status.returncode == 1 and "NOT RUNNING" in status.stdout
    assert "the event runner is not running — run `make local-up` to start it again" in status.stdout
    assert pid_running(runner_pid(sandbox))


def runners_of(sandbox: RunningSandbox) -> set[int]:
    """The live event runners started for this sandbox (by its folder), whoever started them."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"scripts.sandbox.runner" in command and \
                f"SANDBOX_DIR={sandbox.directory}".encode() in environment and pid_running(int(entry.name)):
            found.add(int(entry.name))
    return found


def test_a_runner_started_by_hand_beside_the_sandbox_s_own_refuses_to_start(sandbox):
    running = runner_pid(sandbox)
    hand = run([sys.executable, "-m", "scripts.sandbox.runner", "--stage", "local"], sandbox.env, check=False)

    assert hand.returncode == 1
    assert f"the sandbox's event runner already runs (pid {running})" in hand.stderr
    assert runners_of(sandbox) == {running}


def test_local_up_and_local_run_at_once_leave_one_runner_and_the_state_names_it(sandbox, tmp_path):
    for round_ in range(3):
        output = tmp_path / f"local-run-{round_}.out"
        with open(output, "wb") as out:
            foreground = subprocess.Popen(["make", "-s", "local-run"], cwd=PROJECT_DIR, env=sandbox.base_env,
                                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            sandbox.sandbox("up")
            wait_for_text(output, "event runner started")
            assert runners_of(sandbox) == {runner_pid(sandbox)}, f"round {round_}"
        finally:
            os.killpg(foreground.pid, signal.SIGTERM)
            foreground.wait(timeout=30)
        sandbox.sandbox("up")  # a background runner again, for the next round
        assert runners_of(sandbox) == {runner_pid(sandbox)}
