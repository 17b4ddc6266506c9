"""`make local-status`: an aligned table, and every resource the stage needs checked."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import run

pytestmark = pytest.mark.e2e

_ROW = re.compile(r"^([A-Za-z0-9 -]+:)( +)\S")


def local_status(sandbox):
    return run(["make", "-s", "local-status"], sandbox.base_env, check=False)


def value_columns(output: str) -> set[int]:
    columns = set()
    for line in output.splitlines():
        if line.startswith("missing: "):
            continue
        match = _ROW.match(line)
        assert match and len(match.group(2)) >= 2, f"not a label, two spaces and a value: {line!r}"
        columns.add(match.end() - 1)
    return columns


def test_the_labels_line_up(running_sandbox):
    status = local_status(running_sandbox)

    assert status.returncode == 0, status.stdout + status.stderr
    assert len(value_columns(status.stdout)) == 1, status.stdout
    for label in ("mode:", "emulator:", "S3 events:", "bucket:", "table:", "events queue:",
                  "output queue:", "dead-letter queue:"):
        assert any(line.startswith(label) for line in status.stdout.splitlines()), label


def test_missing_resources_are_named_one_by_one_until_local_up_puts_them_back(running_sandbox):
    sandbox = running_sandbox
    bucket, table = sandbox.env["INGEST_BUCKET"], sandbox.env["TABLE_NAME"]
    dead_letter = sandbox.env["DEAD_LETTER_QUEUE_URL"].rsplit("/", 1)[-1]
    sandbox.awslocal("dynamodb", "delete-table", "--table-name", table)
    sandbox.awslocal("sqs", "delete-queue", "--queue-url", sandbox.env["DEAD_LETTER_QUEUE_URL"])
    sandbox.awslocal("s3", "rb", f"s3://{bucket}", "--force")

    broken = local_status(sandbox)
    run(["make", "-s", "local-up"], sandbox.base_env)
    repaired = local_status(sandbox)

    assert broken.returncode != 0
    lines = broken.stdout.splitlines()
    for kind, name in (("bucket", bucket), ("table", table), ("queue", dead_letter)):
        assert f"missing: {kind} {name} — run `make local-up` to put it back" in lines, broken.stdout
    assert sum(line.startswith("missing: ") for line in lines) == 3
    assert len(value_columns(broken.stdout)) == 1, broken.stdout
    assert repaired.returncode == 0, repaired.stdout
    assert "missing" not in repaired.stdout.lower()
