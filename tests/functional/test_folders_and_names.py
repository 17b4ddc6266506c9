"""A batch is its folder's; a misnamed upload always gets a report, filed where status finds it."""
from __future__ import annotations

from chalicelib.keys import BatchRef
from chalicelib.status import batch_status
from chalicelib.wiring import records_and_reports
from scripts.sandbox import wording
from tests.conftest import SAMPLE_BATCH, assert_sample_messages, sample_bytes

KINDS = ("customers", "orders", "items")
CHANGED_ORDERS = sample_bytes("orders").replace(b"250.00", b"999.00")


def upload_batch(sandbox, folder: str, orders: bytes | None = None) -> list[dict]:
    return [sandbox.upload(f"{folder}{kind}_{SAMPLE_BATCH}.csv",
                           orders if kind == "orders" and orders else sample_bytes(kind))
            for kind in KINDS]


def status(sandbox, batch_key: str) -> dict:
    return batch_status(*records_and_reports(sandbox.settings), BatchRef.parse(batch_key))


def test_a_stale_event_of_another_folder_never_publishes_old_totals(sandbox):
    upload_batch(sandbox, "a/")
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    stale = sandbox.event_for(f"a/orders_{SAMPLE_BATCH}.csv")
    changed = sandbox.upload(f"b/orders_{SAMPLE_BATCH}.csv", CHANGED_ORDERS)

    redelivered = sandbox.deliver(f"a/orders_{SAMPLE_BATCH}.csv", stale)

    # b/ is a batch of its own, waiting for its other files; a/ is as it was.
    assert changed["waiting_for"] == ["customers", "items"] and changed["published_revision"] == 0
    assert redelivered["status"] == "duplicate" and redelivered["published_revision"] == 0
    assert sandbox.receive_all() == []
    assert status(sandbox, f"a/{SAMPLE_BATCH}")["revision"] == 1


def test_two_folders_with_one_batch_id_are_two_batches(sandbox):
    upload_batch(sandbox, "partner-a/")
    upload_batch(sandbox, "partner-b/", orders=CHANGED_ORDERS)
    rejected = sandbox.upload(f"partner-c/orders_{SAMPLE_BATCH}.csv", b"order_id\n1\n")

    taken = sandbox.take_messages()

    by_folder: dict[str, list[dict]] = {}
    for message in taken:
        body, attributes = message.parsed, dict(message.attributes)
        assert attributes["folder"] == body["folder"]
        assert message.key == f"{body['folder']}/{SAMPLE_BATCH}/{body['id']}/1"
        by_folder.setdefault(body["folder"], []).append(body)
    assert sorted(by_folder) == ["partner-a", "partner-b"]
    assert_sample_messages(by_folder["partner-a"], SAMPLE_BATCH)
    john = next(m for m in by_folder["partner-b"] if m["id"] == "1")
    assert str(john["total_amount_spent"]) == "1149.00"  # partner-b's own orders, revision 1
    assert {m["revision"] for m in by_folder["partner-b"]} == {1}
    assert rejected["report_key"] == f"reports/partner-c/{SAMPLE_BATCH}/orders_{SAMPLE_BATCH}.csv.json"
    assert sandbox.result_keys("reports/") == [
        f"reports/partner-a/{SAMPLE_BATCH}/batch.json",
        f"reports/partner-b/{SAMPLE_BATCH}/batch.json",
        rejected["report_key"]]
    assert status(sandbox, f"partner-c/{SAMPLE_BATCH}")["waiting_for"] == list(KINDS)
    assert status(sandbox, SAMPLE_BATCH)["known"] is False  # the top of the bucket: no such batch


def test_messages_at_the_top_of_the_bucket_have_an_empty_folder_and_no_folder_attribute(sandbox):
    upload_batch(sandbox, "")

    taken = sandbox.take_messages()

    assert {m.parsed["folder"] for m in taken} == {""}
    assert all("folder" not in dict(m.attributes) for m in taken)
    assert sorted(m.key for m in taken) == [f"{SAMPLE_BATCH}/{n}/1" for n in ("1", "2", "3")]


def test_an_upper_case_extension_gets_a_report_that_status_shows_until_the_right_file_lands(sandbox):
    sandbox.upload(f"p/orders_{SAMPLE_BATCH}.csv", sample_bytes("orders"))
    sandbox.upload(f"p/items_{SAMPLE_BATCH}.csv", sample_bytes("items"))

    misnamed = sandbox.upload(f"p/customers_{SAMPLE_BATCH}.CSV", sample_bytes("customers"))

    report_key = f"reports/p/{SAMPLE_BATCH}/customers_{SAMPLE_BATCH}.CSV.json"
    assert (misnamed["status"], misnamed["report_key"], misnamed["kind"]) == (
        "rejected", report_key, "customers")
    report = sandbox.read_json(report_key)
    assert [p["reason"] for p in report["problems"]] == [
        "the extension must be lower-case .csv, not .CSV"]
    assert report["what_to_do"].startswith(
        f"Rename the file to customers_{SAMPLE_BATCH}.csv and upload it again into p/")
    before = status(sandbox, f"p/{SAMPLE_BATCH}")
    assert [(m["key"], m["report_key"]) for m in before["misnamed"]] == [
        (f"p/customers_{SAMPLE_BATCH}.CSV", report_key)]

    fixed = sandbox.upload(f"p/customers_{SAMPLE_BATCH}.csv", sample_bytes("customers"))

    assert fixed["published_revision"] == 1
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    assert status(sandbox, f"p/{SAMPLE_BATCH}")["misnamed"] == []
    assert sandbox.result_keys("reports/") == [f"reports/p/{SAMPLE_BATCH}/batch.json"]


def test_a_name_with_no_batch_id_is_reported_per_folder_and_forgotten_once_its_folder_publishes(sandbox):
    first = sandbox.upload("p/readme.txt", b"hello")
    second = sandbox.upload("q/readme.txt", b"hello")

    assert (first["report_key"], second["report_key"]) == (
        "unknown-names/p/readme.txt.json", "unknown-names/q/readme.txt.json")
    assert sandbox.read_json(first["report_key"])["object_key"] == "p/readme.txt"
    assert [m["key"] for m in status(sandbox, f"p/{SAMPLE_BATCH}")["misnamed_in_folder"]] == [
        "p/readme.txt"]

    upload_batch(sandbox, "p/")

    assert sandbox.result_keys("unknown-names/") == ["unknown-names/q/readme.txt.json"]
    assert status(sandbox, f"p/{SAMPLE_BATCH}")["misnamed_in_folder"] == []


def test_a_kind_that_cannot_be_told_is_filed_with_its_batch_until_the_batch_publishes(sandbox):
    misnamed = sandbox.upload(f"p/invoices_{SAMPLE_BATCH}.csv", b"a\n1\n")

    assert misnamed["report_key"] == f"reports/p/{SAMPLE_BATCH}/invoices_{SAMPLE_BATCH}.csv.json"
    assert misnamed["batch_id"] == SAMPLE_BATCH and misnamed["kind"] == ""

    upload_batch(sandbox, "p/")

    assert sandbox.result_keys("reports/") == [f"reports/p/{SAMPLE_BATCH}/batch.json"]


def test_a_name_with_an_invalid_batch_id_is_filed_with_the_batch_it_means_until_that_publishes(sandbox):
    # b_1 is no batch id (no '_' in one): the report names b-1, the batch the
    # partner means, and is filed there, so that it clears when b-1 is published.
    misnamed = sandbox.upload("p/orders_b_1.csv", sample_bytes("orders"))

    assert misnamed["status"] == "rejected" and "Rename the file to orders_b-1.csv" in misnamed["error"]
    assert misnamed["report_key"] == "reports/p/b-1/orders_b_1.csv.json"
    assert [m["key"] for m in status(sandbox, "p/b-1")["misnamed"]] == ["p/orders_b_1.csv"]

    for kind in KINDS:
        sandbox.upload(f"p/{kind}_b-1.csv", sample_bytes(kind))

    assert status(sandbox, "p/b-1")["misnamed"] == []
    assert sandbox.result_keys("reports/") == ["reports/p/b-1/batch.json"]


def test_a_misnamed_upload_with_a_key_as_long_as_s3_allows_is_reported_not_failed(sandbox):
    key = "partner-a/" + "x" * 1000 + ".txt"  # 1,014 bytes: S3 takes up to 1,024
    outcome = sandbox.upload(key, b"order_id\n1\n")

    assert outcome["status"] == "rejected"  # it failed on a sort key over DynamoDB's 1,024 bytes
    [report] = sandbox.result_keys("unknown-names/")
    assert len(report.encode()) <= 1024 and report == outcome["report_key"]
    [misnamed] = status(sandbox, "partner-a/b1")["misnamed_in_folder"]
    assert misnamed["key"] == key and misnamed["report_key"] == report


def test_a_folder_marker_is_ignored_without_a_report(sandbox):
    outcome = sandbox.upload("partner-a/", b"")

    assert outcome["status"] == "ignored"
    assert sandbox.result_keys() == []
    # The runner's line for it (`make logs`) says why, and names no batch it has not.
    assert wording.outcome(outcome) == "ignored (a folder, not a file)"


def test_the_pipeline_writes_nothing_into_the_ingest_bucket(sandbox):
    upload_batch(sandbox, "p/")
    sandbox.upload("p/readme.txt", b"x")
    sandbox.upload("p/orders_bad.csv", b"order_id\n1\n")

    listed = sandbox.s3.list_objects_v2(Bucket=sandbox.settings.ingest_bucket)["Contents"]

    assert sorted(o["Key"] for o in listed) == sorted(
        [f"p/{kind}_{SAMPLE_BATCH}.csv" for kind in KINDS] + ["p/readme.txt", "p/orders_bad.csv"])


def test_a_header_only_file_publishes_with_a_warning_in_the_batch_report(sandbox):
    sandbox.upload(f"customers_{SAMPLE_BATCH}.csv", b"customer_id,customer_name\n")
    sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", sample_bytes("orders"))
    outcome = sandbox.upload(f"items_{SAMPLE_BATCH}.csv", sample_bytes("items"))

    assert outcome["published_revision"] == 1 and outcome["messages"] == 0
    report = sandbox.read_json(f"reports/{SAMPLE_BATCH}/batch.json")
    assert report["warnings"] == [
        f"the customers file customers_{SAMPLE_BATCH}.csv has a header and no rows: the batch "
        "was published with no messages; if that is not meant, upload the file with its rows "
        "under the same key"]
    assert status(sandbox, SAMPLE_BATCH)["warnings"] == report["warnings"]
