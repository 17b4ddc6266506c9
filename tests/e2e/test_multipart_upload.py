"""A file large enough that `awslocal s3 cp` uploads it in parts: one S3 event, one invocation, as in AWS."""
from __future__ import annotations

import json
import time

import pytest

from tests.conftest import assert_sample_messages, sample_bytes

pytestmark = pytest.mark.e2e

MULTIPART_THRESHOLD = 8 * 1024 * 1024  # the AWS CLI's default multipart_threshold
BATCH = "multipart"


def orders_past_the_threshold() -> bytes:
    """The sample batch's orders, with extra columns of filler that take the file past 8 MiB.

    Extra columns are allowed and ignored, so the messages stay the sample's;
    each filler value stays under the CSV field limit (131,072 characters).
    """
    lines = sample_bytes("orders").decode().strip().splitlines()
    filler = "x" * 100_000
    columns = -(-(MULTIPART_THRESHOLD + 2 ** 19) // (len(filler) * (len(lines) - 1)))  # half a MiB over
    header = lines[0] + "".join(f",note_{n}" for n in range(columns))
    rows = [line + f",{filler}" * columns for line in lines[1:]]
    return ("\n".join([header, *rows]) + "\n").encode()


def events_left(sandbox) -> int:
    """Events the runner has yet to take or finish: visible, or in flight, in the events queue."""
    url = json.loads((sandbox.directory / "state.json").read_text())["events_queue_url"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = json.loads(sandbox.awslocal("sqs", "get-queue-attributes", "--queue-url", url,
                                             "--attribute-names", *names).stdout)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def test_a_file_uploaded_in_parts_invokes_the_handler_once(running_sandbox, tmp_path):
    for kind, body in (("customers", sample_bytes("customers")), ("items", sample_bytes("items")),
                       ("orders", orders_past_the_threshold())):
        path = tmp_path / f"{kind}_{BATCH}.csv"
        path.write_bytes(body)
        running_sandbox.awslocal("s3", "cp", str(path), f"s3://{running_sandbox.env['INGEST_BUCKET']}/")
    assert (tmp_path / f"orders_{BATCH}.csv").stat().st_size > MULTIPART_THRESHOLD

    assert_sample_messages(running_sandbox.receive(3), BATCH)
    # Every event S3 sent for the upload was in the queue before `s3 cp`
    # returned: once the runner has finished them all, the log is complete.
    deadline = time.monotonic() + 60
    while events_left(running_sandbox) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert events_left(running_sandbox) == 0

    log = (running_sandbox.directory / "runner.log").read_text()
    invocations = [line for line in log.splitlines() if f" orders_{BATCH}.csv -> on_csv_uploaded: " in line
                   and " INFO " in line]
    assert len(invocations) == 1, "\n".join(invocations)
