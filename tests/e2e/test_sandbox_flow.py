"""The whole flow over HTTP: moto server, event runner, awslocal, as the README drives it."""
from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import PROJECT_DIR, SAMPLE_BATCH, assert_sample_messages, sample_bytes
from tests.e2e.conftest import RunningSandbox, free_port, pid_running, port_open, run

pytestmark = pytest.mark.e2e
KINDS = ("customers", "orders", "items")


def test_local_env_prints_what_a_shell_needs(running_sandbox):
    output = running_sandbox.sandbox("env").stdout
    keys = [line.split("=", 1)[0] for line in output.splitlines() if not line.startswith("export ")]
    for key in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "INGEST_BUCKET", "TABLE_NAME", "OUTPUT_QUEUE_URL", "DEAD_LETTER_QUEUE_URL"):
        assert key in keys
    assert running_sandbox.env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{running_sandbox.port}"


def test_the_readme_flow_with_awslocal(running_sandbox):
    """eval "$(make -s local-env)"; awslocal s3 cp ...; awslocal sqs receive-message."""
    script = (f'eval "$({sys.executable} -m scripts.sandbox env)"; '
              f'for f in items orders customers; do '
              f'awslocal s3 cp data/${{f}}_{SAMPLE_BATCH}.csv s3://$INGEST_BUCKET/ || exit 1; done')
    result = subprocess.run(["bash", "-c", script], env=running_sandbox.base_env, cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr  # the banner is silenced by local-env

    assert_sample_messages(running_sandbox.receive_with_awslocal(3), SAMPLE_BATCH)


@pytest.mark.parametrize("order", list(itertools.permutations(KINDS)), ids="-".join)
def test_every_upload_order_through_the_runner(running_sandbox, tmp_path, order):
    batch_id = "order-" + "-".join(kind[0] for kind in order)
    for kind in order:
        path = tmp_path / f"{kind}_{batch_id}.csv"
        path.write_bytes(sample_bytes(kind))
        running_sandbox.awslocal("s3", "cp", str(path), f"s3://{running_sandbox.env['INGEST_BUCKET']}/incoming/")

    assert_sample_messages(running_sandbox.receive(3), batch_id)


def test_an_invalid_file_is_reported_in_the_results_bucket(running_sandbox, tmp_path):
    path = tmp_path / "orders_badbatch.csv"
    path.write_bytes(b"order_id,customer_id,amount\n1001,1,12.345\n")
    running_sandbox.awslocal("s3", "cp", str(path), f"s3://{running_sandbox.env['INGEST_BUCKET']}/")
    bucket = running_sandbox.env["RESULTS_BUCKET"]

    report = None
    for _ in range(30):
        result = running_sandbox.awslocal("s3", "cp", f"s3://{bucket}/reports/badbatch/orders_badbatch.csv.json",
                                          "-", check=False)
        if result.returncode == 0:
            report = json.loads(result.stdout)
            break
        time.sleep(0.5)
    assert report is not None, "no report was written"
    assert report["problems"][0]["line"] == 2
    assert report["problems"][0]["column"] == "amount"
    assert "at most 2 decimal places" in report["problems"][0]["reason"]


def test_local_up_twice_is_harmless(running_sandbox):
    before = running_sandbox.pids()
    result = running_sandbox.sandbox("up")
    assert "already running" in result.stdout
    assert running_sandbox.pids() == before
    assert running_sandbox.sandbox("status").returncode == 0


def test_down_stops_everything_and_frees_the_port(tmp_path):
    sandbox = RunningSandbox(tmp_path / "sb", free_port())
    sandbox.sandbox("up")
    emulator, runner = sandbox.pids()
    assert port_open(sandbox.port) and pid_running(emulator) and pid_running(runner)

    sandbox.sandbox("down")

    assert not port_open(sandbox.port)
    assert not pid_running(emulator) and not pid_running(runner)
    assert "not running" in sandbox.sandbox("status", check=False).stdout


def test_a_port_taken_by_another_program_is_a_clear_error(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        sandbox = RunningSandbox(tmp_path / "sb", other.getsockname()[1])
        result = sandbox.sandbox("up", check=False)
    assert result.returncode == 1
    assert f"port {sandbox.port} on 127.0.0.1 is already in use" in result.stderr
    assert "SANDBOX_PORT=" in result.stderr


def test_make_demo_prints_the_customers_and_stops_what_it_started(tmp_path):
    port = free_port()
    sandbox = RunningSandbox(tmp_path / "sb", port)
    result = run(["make", "-s", "demo"], sandbox.base_env)

    for line in ("1     John Doe                  2      400.00",
                 "2     Jane Smith                1      300.00",
                 "3     Alice Johnson             2      200.00"):
        assert line in result.stdout
    assert '"total_amount_spent": 400.00' in result.stdout
    assert "Summary: 3 files, 14 rows, 3 messages" in result.stdout
    assert not port_open(port)
