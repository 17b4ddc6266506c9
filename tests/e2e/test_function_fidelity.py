"""Green in the sandbox means green in Lambda: the runner runs the code as it is now, with
only what the deployment package holds.

A copy of the small misbehaving app (tests/apps/misbehaving) is the function
here (RUNNER_PROJECT_DIR), so that the tests can edit it while the sandbox runs.
"""
from __future__ import annotations

import os
import shutil

import pytest

from tests.e2e.conftest import RunningSandbox, free_port
from tests.e2e.test_runner_like_lambda import MISBEHAVING, dead_letters, upload, wait_for_line
from tests.e2e.test_sandbox_recovery import busy_environment, wait_until


@pytest.fixture
def app_copy(tmp_path):
    project = tmp_path / "app"
    shutil.copytree(MISBEHAVING, project)
    return project


@pytest.fixture
def sandbox(tmp_path, app_copy):
    sandbox = RunningSandbox(tmp_path / "sandbox", free_port())
    sandbox.directory.mkdir()
    sandbox.base_env.update(RUNNER_PROJECT_DIR=str(app_copy), MISBEHAVING_DIR=str(tmp_path))
    with sandbox.started():
        yield sandbox


def edit(app_copy, old: str, new: str) -> None:
    path = app_copy / "app.py"
    text = path.read_text()
    assert old in text
    # The new content's mtime must differ from the old one's, on a filesystem of any resolution.
    stat = path.stat()
    path.write_text(text.replace(old, new))
    if path.stat().st_mtime_ns == stat.st_mtime_ns:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_an_edit_is_what_the_next_upload_runs_and_a_running_invocation_finishes_on_its_code(
        sandbox, app_copy, tmp_path):
    upload(sandbox, tmp_path, "first.txt")
    wait_for_line(sandbox, "first.txt -> on_csv_uploaded: done")  # a warm environment now
    upload(sandbox, tmp_path, "sleep-3.txt")
    wait_until(lambda: busy_environment(sandbox), 30, "no environment took the slow event")

    edit(app_copy, '"status": "done"', '"status": "edited"')
    upload(sandbox, tmp_path, "second.txt")

    lines = wait_for_line(sandbox, "second.txt -> on_csv_uploaded: edited")
    wait_for_line(sandbox, "sleep-3.txt -> on_csv_uploaded: done")  # began before the edit
    assert any("the function's code changed (app.py)" in line for line in lines)


def test_an_import_the_package_lacks_fails_at_init_as_in_lambda_and_is_dead_lettered(
        sandbox, app_copy, tmp_path):
    # hypothesis is in the development venv (requirements-dev.txt), not in the package.
    edit(app_copy, "import os\n", "import os\nimport hypothesis  # a test-only package\n")
    upload(sandbox, tmp_path, "orders_x.txt")

    [record] = dead_letters(sandbox, "orders_x.txt")

    # Lambda's Python runtime's words and type, in the record and in each attempt's line.
    said = "Unable to import module 'app': No module named 'hypothesis'"
    assert record["responsePayload"] == {"errorType": "Runtime.ImportModuleError", "errorMessage": said}
    assert record["requestContext"]["approximateInvokeCount"] == 3  # Lambda's retries, then the record
    log = (sandbox.directory / "runner.log").read_text()
    assert [line for line in log.splitlines() if "orders_x.txt -> on_csv_uploaded: attempt" in line
            and f"failed: Runtime.ImportModuleError: {said}" in line] != []
    assert "orders_x.txt -> on_csv_uploaded: done" not in log


def test_boto3_comes_from_lambda_s_runtime_when_the_package_holds_none(sandbox, app_copy, tmp_path):
    # The misbehaving app has no requirements.txt: Lambda's runtime still provides boto3.
    edit(app_copy, "import os\n", "import os\nimport boto3  # Lambda's runtime provides it\n")
    upload(sandbox, tmp_path, "boto3.txt")
    wait_for_line(sandbox, "boto3.txt -> on_csv_uploaded: done")

