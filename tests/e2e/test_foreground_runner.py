"""`make local-run` and a running sandbox: the runner in the foreground is the sandbox's
runner while it runs, and `make local-up` reuses a sandbox only as what it is."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, SAMPLE_BATCH
from tests.e2e.conftest import RunningSandbox, free_port, pid_running

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
