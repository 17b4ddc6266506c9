"""`make local-api`: the real `chalice local` process serves the debugging routes over HTTP."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, assert_sample_messages, sample_bytes
from tests.e2e.conftest import RunningSandbox, free_port, port_open

pytestmark = pytest.mark.e2e


def request(port: int, path: str, method: str = "GET", timeout: float = 30) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read(), parse_float=Decimal)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def running_sandbox():
    """The sandbox where a user's is: logs and state in .sandbox/, inside the project
    that `chalice local` serves (the tier's default puts them in a temporary folder)."""
    directory = PROJECT_DIR / ".sandbox" / f"e2e-local-api-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    sandbox = RunningSandbox(directory, free_port())
    try:
        with sandbox.started():
            yield sandbox
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class LocalApi:
    def __init__(self, port: int, process: subprocess.Popen, output: Path) -> None:
        self.port = port
        self.process = process
        self.output = output

    def chalice_pids(self) -> set[int]:
        """The `chalice local` processes `make local-api` runs (its process group)."""
        pids = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(stat[2]) == self.process.pid and stat[0] != "Z" and b"local" in cmdline \
                    and any(part.endswith(b"chalice") for part in cmdline):
                pids.add(int(entry.name))
        return pids


@pytest.fixture
def local_api(running_sandbox, tmp_path):
    port = free_port()
    output = tmp_path / "local-api.out"
    with open(output, "wb") as out:
        process = subprocess.Popen(["make", "-s", "local-api", f"API_PORT={port}"], cwd=PROJECT_DIR,
                                   env=running_sandbox.base_env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "chalice local did not listen within 30 s"
            time.sleep(0.2)
        yield LocalApi(port, process, output)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def test_chalice_local_serves_status_customer_and_publish_again(running_sandbox, local_api, tmp_path):
    for kind in ("customers", "orders", "items"):
        path = tmp_path / f"{kind}_api.csv"
        path.write_bytes(sample_bytes(kind))
        running_sandbox.awslocal("s3", "cp", str(path), f"s3://{running_sandbox.env['INGEST_BUCKET']}/")
    assert_sample_messages(running_sandbox.receive(3), "api")

    status_code, status = request(local_api.port, "/batches/api")
    customer_code, customer = request(local_api.port, "/batches/api/customers/2")
    publish_code, published = request(local_api.port, "/batches/api/publish", method="POST")
    missing_code, missing = request(local_api.port, "/batches/nothing-here")

    assert status_code == 200 and status["published"] and status["revision"] == 1
    assert customer_code == 200 and customer["name"] == "Jane Smith"
    assert str(customer["total_amount_spent"]) == "300.00" and customer["orders"][0]["item_ids"] == ["504"]
    assert publish_code == 200  # the answer may carry more fields (a batch's folder is coming)
    assert {k: published[k] for k in ("batch_id", "revision", "messages")} == {
        "batch_id": "api", "revision": 2, "messages": 3}
    assert_sample_messages(running_sandbox.receive(3), "api", revision=2)
    assert missing_code == 404 and "nothing-here" in missing["Message"]


def test_chalice_local_answers_every_request_while_the_sandbox_writes_its_logs(
        running_sandbox, local_api, tmp_path):
    pids_before = local_api.chalice_pids()
    # Uploads while the requests run: the runner and the emulator write their logs
    # into the project's .sandbox/ as they handle them.
    uploads = threading.Thread(target=lambda: [
        running_sandbox.awslocal("s3", "cp", str(_written(tmp_path / f"{kind}_steady.csv", kind)),
                                 f"s3://{running_sandbox.env['INGEST_BUCKET']}/partner-a/")
        for kind in ("customers", "orders", "items")])
    uploads.start()
    unanswered = []
    for n in range(30):  # 30 requests over 6 s
        started = time.monotonic()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{local_api.port}/batches/steady", timeout=5).close()
        except urllib.error.HTTPError:
            pass  # an HTTP answer all the same (404 until the batch's first file is in)
        except OSError as error:  # refused, reset or timed out: no answer
            unanswered.append(f"request {n + 1}: {error!r}")
        time.sleep(max(0.0, 0.2 - (time.monotonic() - started)))
    uploads.join()

    assert unanswered == [], "\n".join(unanswered + [local_api.output.read_text()])
    assert local_api.chalice_pids() == pids_before != set()  # the same chalice local throughout
    assert "restarting" not in local_api.output.read_text().lower()
    assert (running_sandbox.directory / "runner.log").stat().st_size > 0


def _written(path: Path, kind: str) -> Path:
    path.write_bytes(sample_bytes(kind))
    return path
