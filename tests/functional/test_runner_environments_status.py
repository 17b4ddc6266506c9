"""`make local-status` shows the execution environments of every function the runner invokes."""
from __future__ import annotations

import json
import threading

import pytest

from scripts.sandbox.environments import EnvironmentPool, Package, StatusBoard
from scripts.sandbox.function_config import FunctionConfig
from scripts.sandbox.function_package import dependencies, runtime_sdk, task_folder
from scripts.sandbox.status import environment_rows
from tests.conftest import PROJECT_DIR

MISBEHAVING = PROJECT_DIR / "tests" / "apps" / "misbehaving"


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Package:
    """The misbehaving app laid out as its deployment package (its dependencies: Chalice's runtime)."""
    folder = tmp_path_factory.mktemp("package")
    return Package(task_folder(MISBEHAVING, folder), dependencies(MISBEHAVING, folder / "built"),
                   runtime_sdk())
UPLOADS = FunctionConfig("on_csv_uploaded", timeout_seconds=60, memory_mb=512, concurrency=3,
                         max_attempts=3)
REPORTS = FunctionConfig("on_report_written", timeout_seconds=30, memory_mb=256, concurrency=2,
                         max_attempts=3)


def s3_event(key: str) -> dict:
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": "order-pipeline-local-ingest"},
                                "object": {"key": key, "size": 1}}}]}


def two_functions(folder, package):
    """The pool of uploads (invoked below) and one of reports (never invoked), on one board."""
    board = StatusBoard(folder / "environments.json")
    uploads = EnvironmentPool(UPLOADS, "local", package, board)
    EnvironmentPool(REPORTS, "local", package, board)
    return uploads


def test_a_closed_pool_shows_no_environments_and_the_other_function_stays_listed(
        tmp_path, monkeypatch, package):
    monkeypatch.setenv("MISBEHAVING_DIR", str(tmp_path))
    uploads = two_functions(tmp_path, package)
    try:
        attempt = uploads.invoke("request-1", "on_csv_uploaded", s3_event("quick.txt"))
    finally:
        uploads.close()  # its environment is stopped, and the board says so

    assert attempt.ok, attempt.error
    assert environment_rows(tmp_path / "environments.json") == [
        ("environments", "0 of 3 for on_csv_uploaded (0 busy, 0 warm); timeout 60 s, memory 512 MB"),
        ("environments", "0 of 2 for on_report_written (0 busy, 0 warm); timeout 30 s, memory 256 MB")]


def test_a_warm_environment_is_listed_under_its_function(tmp_path, monkeypatch, package):
    monkeypatch.setenv("MISBEHAVING_DIR", str(tmp_path))
    uploads = two_functions(tmp_path, package)
    try:
        uploads.invoke("request-1", "on_csv_uploaded", s3_event("quick.txt"))
        uploads.invoke("request-2", "on_csv_uploaded", s3_event("quick.txt"))
        rows = environment_rows(tmp_path / "environments.json")
    finally:
        uploads.close()

    assert rows[0] == ("environments", "1 of 3 for on_csv_uploaded (0 busy, 1 warm); "
                                       "timeout 60 s, memory 512 MB")
    assert rows[1][0].strip() and rows[1][1].startswith("warm, pid ") and ", 2 invocations, " in rows[1][1]
    assert rows[2] == ("environments", "0 of 2 for on_report_written (0 busy, 0 warm); "
                                       "timeout 30 s, memory 256 MB")


def test_pools_writing_at_the_same_time_leave_a_whole_file_with_both(tmp_path, package):
    board = StatusBoard(tmp_path / "environments.json")
    pools = [EnvironmentPool(config, "local", package, board) for config in (UPLOADS, REPORTS)]
    errors: list[BaseException] = []

    def write_often(pool) -> None:
        try:
            for _ in range(300):
                pool._write_status()  # what every take and give-back of an environment does
        except BaseException as exc:  # noqa: BLE001 - any failure is asserted on below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write_often, args=(pool,)) for pool in pools]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    shown = json.loads((tmp_path / "environments.json").read_text())
    assert [pool["function"] for pool in shown["functions"]] == ["on_csv_uploaded", "on_report_written"]


def test_an_invocation_does_not_fail_when_the_status_file_cannot_be_written(
        tmp_path, monkeypatch, caplog, package):
    monkeypatch.setenv("MISBEHAVING_DIR", str(tmp_path))
    board = StatusBoard(tmp_path / "removed" / "environments.json")  # its folder is gone
    uploads = EnvironmentPool(UPLOADS, "local", package, board)
    try:
        attempt = uploads.invoke("request-1", "on_csv_uploaded", s3_event("quick.txt"))
    finally:
        uploads.close()

    assert attempt.ok, attempt.error
    assert any("could not write" in r.getMessage() and "environments.json" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING")
