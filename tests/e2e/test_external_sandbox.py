"""SANDBOX=external: an emulator someone else started (here a moto_server this test
starts) is provisioned and served by the runner; `local-down` stops only the runner."""
from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import SAMPLE_BATCH, assert_sample_messages
from tests.e2e.conftest import RunningSandbox, free_port, pid_running, plain_moto_server, port_open

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def external_emulator(tmp_path_factory):
    with plain_moto_server(tmp_path_factory.mktemp("moto")) as port:
        yield port


@pytest.fixture(scope="module")
def external_sandbox(tmp_path_factory, external_emulator):
    # SANDBOX_PORT points elsewhere on purpose: external mode must not use it.
    sandbox = RunningSandbox(tmp_path_factory.mktemp("external"), free_port())
    with sandbox.use_external(external_emulator).started() as up_output:
        yield sandbox, up_output


def test_up_provisions_the_running_emulator_and_starts_only_the_runner(external_sandbox, external_emulator):
    sandbox, output = external_sandbox
    state = json.loads((sandbox.directory / "state.json").read_text())

    assert state["mode"] == "external" and state["emulator_pid"] == 0
    assert state["endpoint"] == f"http://127.0.0.1:{external_emulator}"
    assert pid_running(state["runner_pid"])
    assert not port_open(sandbox.port)  # nothing was started on SANDBOX_PORT
    assert "already running" in output and "not started or stopped here" in output
    assert sandbox.env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{external_emulator}"


def test_the_sample_batch_flows_through_the_external_emulator(external_sandbox):
    sandbox, _ = external_sandbox
    for kind in ("orders", "items", "customers"):
        sandbox.awslocal("s3", "cp", f"data/{kind}_{SAMPLE_BATCH}.csv",
                         f"s3://{sandbox.env['INGEST_BUCKET']}/incoming/")

    assert_sample_messages(sandbox.receive(3), SAMPLE_BATCH)


def test_status_says_the_emulator_is_not_ours(external_sandbox):
    sandbox, _ = external_sandbox
    output = sandbox.sandbox("status").stdout

    assert re.search(r"^mode:\s+external", output, re.M)
    assert "not stopped by make local-down" in output
    assert "to the local runner, running" in output


def test_down_stops_the_runner_and_leaves_the_emulator_and_its_data(tmp_path, external_emulator):
    sandbox = RunningSandbox(tmp_path, free_port()).use_external(external_emulator)
    sandbox.sandbox("up")
    sandbox.load_env()
    runner_pid = json.loads((tmp_path / "state.json").read_text())["runner_pid"]
    sandbox.awslocal("s3", "cp", f"data/customers_{SAMPLE_BATCH}.csv",
                     f"s3://{sandbox.env['INGEST_BUCKET']}/kept/")

    down = sandbox.sandbox("down")

    assert "left running" in down.stdout
    assert not (tmp_path / "state.json").exists()
    deadline = time.monotonic() + 10
    while pid_running(runner_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_running(runner_pid)
    assert port_open(external_emulator)
    listing = sandbox.awslocal("s3", "ls", f"s3://{sandbox.env['INGEST_BUCKET']}/kept/").stdout
    assert f"customers_{SAMPLE_BATCH}.csv" in listing


def test_up_says_when_nothing_answers_at_the_endpoint(tmp_path):
    sandbox = RunningSandbox(tmp_path, free_port())
    silent = free_port()
    sandbox.base_env.update(SANDBOX="external", AWS_ENDPOINT_URL=f"http://127.0.0.1:{silent}")

    result = sandbox.sandbox("up", check=False)

    assert result.returncode == 1
    assert f"nothing answers at AWS_ENDPOINT_URL=http://127.0.0.1:{silent}" in result.stderr
    assert not (tmp_path / "state.json").exists()


def test_up_without_an_endpoint_says_how_to_give_one(tmp_path):
    sandbox = RunningSandbox(tmp_path, free_port())  # it removes AWS_ENDPOINT_URL
    sandbox.base_env["SANDBOX"] = "external"

    result = sandbox.sandbox("up", check=False)

    assert result.returncode == 1
    assert "AWS_ENDPOINT_URL is not set" in result.stderr
    assert "SANDBOX=external make local-up" in result.stderr


def test_events_cannot_go_to_a_function_where_none_runs(external_sandbox):
    sandbox, _ = external_sandbox

    result = sandbox.sandbox("deliver", "--to", "function", check=False)

    assert result.returncode == 1
    assert "the external sandbox runs no Lambda functions" in result.stderr
    assert "to the local runner, running" in sandbox.sandbox("status").stdout
