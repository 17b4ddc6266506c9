"""Key cases over HTTP as a user drives them: re-uploads, rejects, folders, misnamed files, status, replay."""
from __future__ import annotations

import re
import time

import pytest

from tests.conftest import assert_sample_messages, sample_bytes
from tests.e2e.conftest import run

pytestmark = pytest.mark.e2e
KINDS = ("customers", "orders", "items")


def upload(sandbox, tmp_path, name: str, body: bytes, folder: str = "incoming/") -> None:
    path = tmp_path / name
    path.write_bytes(body)
    sandbox.awslocal("s3", "cp", str(path), f"s3://{sandbox.env['INGEST_BUCKET']}/{folder}{name}")


def make(sandbox, *args: str, check: bool = True):
    return run(["make", "-s", *args], sandbox.base_env, check=check)


def wait_for_status(sandbox, batch_id: str, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        output = make(sandbox, "status", f"BATCH={batch_id}", check=False).stdout
        if text in output or time.monotonic() > deadline:
            return output
        time.sleep(0.3)


def test_reuploads_publish_a_new_revision_only_when_the_content_changes(running_sandbox, tmp_path):
    for kind in KINDS:
        upload(running_sandbox, tmp_path, f"{kind}_reup.csv", sample_bytes(kind))
    assert_sample_messages(running_sandbox.receive(3), "reup")

    upload(running_sandbox, tmp_path, "orders_reup.csv", sample_bytes("orders"))  # identical
    upload(running_sandbox, tmp_path, "orders_reup.csv",
           sample_bytes("orders").replace(b"1002,1,150.00", b"1002,1,151.00"))

    bodies = running_sandbox.receive(3)
    assert {b["revision"] for b in bodies} == {2}
    assert str({b["id"]: b for b in bodies}["1"]["total_amount_spent"]) == "401.00"
    assert running_sandbox.receive(1, timeout=3) == []  # the identical upload published nothing
    status = make(running_sandbox, "status", "BATCH=incoming/reup").stdout
    assert "Publication: revision 2, published" in status


def test_a_rejected_file_holds_the_batch_until_a_corrected_upload(running_sandbox, tmp_path):
    upload(running_sandbox, tmp_path, "customers_fixme.csv", sample_bytes("customers"))
    upload(running_sandbox, tmp_path, "items_fixme.csv", sample_bytes("items"))
    upload(running_sandbox, tmp_path, "orders_fixme.csv", b"order_id,customer_id,amount\n1001,1,-250\n")

    status = wait_for_status(running_sandbox, "incoming/fixme", "rejected")
    assert "line 2, column amount" in status and "Waiting for: orders" in status

    upload(running_sandbox, tmp_path, "orders_fixme.csv", sample_bytes("orders"))
    assert_sample_messages(running_sandbox.receive(3), "fixme")


def test_make_replay_recovers_events_that_failed_while_the_table_was_gone(running_sandbox, tmp_path):
    running_sandbox.awslocal("dynamodb", "delete-table", "--table-name", running_sandbox.env["TABLE_NAME"])
    for kind in KINDS:
        upload(running_sandbox, tmp_path, f"{kind}_lost.csv", sample_bytes(kind))
    deadline = time.monotonic() + 60
    while not re.search(r"^dead-letter queue:\s+3 waiting",
                        make(running_sandbox, "local-status", check=False).stdout, re.M):
        assert time.monotonic() < deadline, "the failed events did not reach the dead-letter queue"
        time.sleep(0.5)

    missing = make(running_sandbox, "status", "BATCH=incoming/lost", check=False)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "run `make local-up` to put back what is missing" in missing.stderr

    make(running_sandbox, "local-up")  # provisions again: the table is back
    replayed = make(running_sandbox, "replay").stdout

    assert "Replayed 3 events: all went through" in replayed
    assert_sample_messages(running_sandbox.receive(3), "lost")
    assert re.search(r"^dead-letter queue:\s+0 waiting", make(running_sandbox, "local-status").stdout,
                     re.M)


def test_two_partners_folders_with_one_batch_id_publish_two_batches(running_sandbox, tmp_path):
    for kind in KINDS:
        upload(running_sandbox, tmp_path, f"{kind}_twin.csv", sample_bytes(kind), folder="partner-a/")
    changed = sample_bytes("orders").replace(b"1003,2,300.00", b"1003,2,301.00")
    for kind in KINDS:
        upload(running_sandbox, tmp_path, f"{kind}_twin.csv",
               changed if kind == "orders" else sample_bytes(kind), folder="partner-b/")

    bodies = running_sandbox.receive(6)

    by_folder = {}
    for body in bodies:
        by_folder.setdefault(body["folder"], []).append(body)
    assert sorted(by_folder) == ["partner-a", "partner-b"]
    assert_sample_messages(by_folder["partner-a"], "twin")
    assert {b["revision"] for b in bodies} == {1}  # neither replaced the other
    jane = next(b for b in by_folder["partner-b"] if b["id"] == "2")
    assert str(jane["total_amount_spent"]) == "301.00"
    for folder in ("partner-a", "partner-b"):
        status = make(running_sandbox, "status", f"BATCH={folder}/twin").stdout
        assert f"in folder {folder}/" in status and "revision 1, published" in status


def test_an_upper_case_extension_is_reported_and_status_points_to_the_report(running_sandbox, tmp_path):
    upload(running_sandbox, tmp_path, "orders_caps.csv", sample_bytes("orders"), folder="")
    upload(running_sandbox, tmp_path, "items_caps.csv", sample_bytes("items"), folder="")
    upload(running_sandbox, tmp_path, "customers_caps.CSV", sample_bytes("customers"), folder="")

    status = wait_for_status(running_sandbox, "caps", "Misnamed uploads")
    assert "customers_caps.CSV: the extension must be lower-case .csv, not .CSV" in status
    assert "reports/caps/customers_caps.CSV.json" in status
    report = running_sandbox.awslocal(
        "s3", "cp", f"s3://{running_sandbox.env['RESULTS_BUCKET']}/reports/caps/customers_caps.CSV.json",
        "-").stdout
    assert "Rename the file to customers_caps.csv" in report

    upload(running_sandbox, tmp_path, "customers_caps.csv", sample_bytes("customers"), folder="")

    assert_sample_messages(running_sandbox.receive(3), "caps")
    assert "Misnamed uploads" not in make(running_sandbox, "status", "BATCH=caps").stdout
