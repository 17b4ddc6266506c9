"""`make local-api`: the real `chalice local` process serves the debugging routes over HTTP."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from decimal import Decimal
import urllib.error
import urllib.request

import pytest

from tests.conftest import PROJECT_DIR, assert_sample_messages, sample_bytes
from tests.e2e.conftest import free_port, port_open

pytestmark = pytest.mark.e2e


def request(port: int, path: str, method: str = "GET") -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read(), parse_float=Decimal)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def local_api(running_sandbox):
    port = free_port()
    process = subprocess.Popen(["make", "-s", "local-api", f"API_PORT={port}"], cwd=PROJECT_DIR,
                               env=running_sandbox.base_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "chalice local did not listen within 30 s"
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def test_chalice_local_serves_status_customer_and_publish_again(running_sandbox, local_api, tmp_path):
    for kind in ("customers", "orders", "items"):
        path = tmp_path / f"{kind}_api.csv"
        path.write_bytes(sample_bytes(kind))
        running_sandbox.awslocal("s3", "cp", str(path), f"s3://{running_sandbox.env['INGEST_BUCKET']}/")
    assert_sample_messages(running_sandbox.receive(3), "api")

    status_code, status = request(local_api, "/batches/api")
    customer_code, customer = request(local_api, "/batches/api/customers/2")
    publish_code, published = request(local_api, "/batches/api/publish", method="POST")
    missing_code, missing = request(local_api, "/batches/nothing-here")

    assert status_code == 200 and status["published"] and status["revision"] == 1
    assert customer_code == 200 and customer["name"] == "Jane Smith"
    assert str(customer["total_amount_spent"]) == "300.00" and customer["orders"][0]["item_ids"] == ["504"]
    assert publish_code == 200 and published == {"batch_id": "api", "folder": "", "revision": 2,
                                                   "messages": 3}
    assert_sample_messages(running_sandbox.receive(3), "api", revision=2)
    assert missing_code == 404 and "nothing-here" in missing["Message"]
