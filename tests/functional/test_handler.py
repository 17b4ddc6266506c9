"""The S3 handler through Chalice's wrapper, against moto in-process."""
from __future__ import annotations

import dataclasses
import itertools

import pytest

from chalicelib import aws, wiring
from chalicelib.errors import PublishError
from chalicelib.publication import PublicationClaims
from chalicelib.publisher import SqsPublisher
from chalicelib.records import BatchRecords
from tests.conftest import SAMPLE_BATCH, assert_sample_messages, sample_bytes

KINDS = ("customers", "orders", "items")


@pytest.mark.parametrize("order", list(itertools.permutations(KINDS)), ids="-".join)
def test_every_upload_order_gives_the_sample_totals(sandbox, order):
    outcomes = [sandbox.upload(f"incoming/{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))
                for kind in order]

    assert [o["status"] for o in outcomes] == ["accepted"] * 3
    assert outcomes[0]["waiting_for"] == [k for k in KINDS if k != order[0]]
    assert [o["published_revision"] for o in outcomes] == [0, 0, 1]
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)


def test_files_without_prefix_work_too(sandbox):
    for kind in KINDS:
        sandbox.upload(f"{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)


def test_a_duplicate_event_counts_nothing_twice_and_publishes_nothing_more(sandbox):
    for kind in KINDS:
        sandbox.upload(f"incoming/{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)

    again = [sandbox.deliver(f"incoming/{kind}_{SAMPLE_BATCH}.csv") for kind in KINDS]

    assert [o["status"] for o in again] == ["duplicate"] * 3
    assert sandbox.receive_all() == []


def test_a_duplicate_before_completion_does_not_double_the_rows(sandbox):
    sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", sample_bytes("orders"))
    sandbox.deliver(f"orders_{SAMPLE_BATCH}.csv")
    sandbox.upload(f"customers_{SAMPLE_BATCH}.csv", sample_bytes("customers"))
    sandbox.upload(f"items_{SAMPLE_BATCH}.csv", sample_bytes("items"))
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)


def test_batches_do_not_mix(sandbox):
    for kind in KINDS:
        sandbox.upload(f"{kind}_A.csv", sample_bytes(kind))
        sandbox.upload(f"{kind}_B.csv", sample_bytes(kind).replace(b"250.00", b"251.00")
                       if kind == "orders" else sample_bytes(kind))
    bodies = sandbox.receive_all()
    batch_a = [b for b in bodies if b["batch_id"] == "A"]
    batch_b = {b["id"]: b for b in bodies if b["batch_id"] == "B"}
    assert_sample_messages(batch_a, "A")
    assert str(batch_b["1"]["total_amount_spent"]) == "401.00"
    assert len(bodies) == 6


def test_a_changed_upload_replaces_the_file_and_publishes_the_next_revision(sandbox):
    for kind in KINDS:
        sandbox.upload(f"{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))
    sandbox.receive_all()
    corrected = b"order_id,customer_id,amount\n1001,1,10.00\n1003,2,300.00\n"

    outcome = sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", corrected)

    assert outcome["published_revision"] == 2
    bodies = {b["id"]: b for b in sandbox.receive_all()}
    assert {b["revision"] for b in bodies.values()} == {2}
    # Replaced, not added: order 1002 is gone, 1001 holds its new amount.
    assert str(bodies["1"]["total_amount_spent"]) == "10.00"
    assert [o["id"] for o in bodies["1"]["orders"]] == ["1001"]
    assert str(bodies["3"]["total_amount_spent"]) == "0.00"
    report = sandbox.read_json(f"reports/{SAMPLE_BATCH}/batch.json")
    assert report["revision"] == 2
    assert [i["item_id"] for i in report["orphan_items"]] == ["503", "505", "506"]


def test_a_batch_joined_in_partitions_gives_the_same_messages_and_report(sandbox):
    with wiring.using(rows_per_partition=4):  # the sample's 17 rows: 5 partitions
        for kind in KINDS:
            sandbox.upload(f"{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))

    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    report = sandbox.read_json(f"reports/{SAMPLE_BATCH}/batch.json")
    assert (report["customers"], report["orphan_order_count"], report["orphan_item_count"]) == (3, 0, 0)


def test_an_invalid_file_is_rejected_with_a_report_and_the_batch_waits(sandbox):
    sandbox.upload(f"customers_{SAMPLE_BATCH}.csv", sample_bytes("customers"))
    sandbox.upload(f"items_{SAMPLE_BATCH}.csv", sample_bytes("items"))
    bad = b"order_id,customer_id,amount\n1001,1,250.00\n1002,1,-5\n1003,,300.00\n"

    outcome = sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", bad)

    assert outcome["status"] == "rejected"
    assert outcome["report_key"] == f"reports/{SAMPLE_BATCH}/orders_{SAMPLE_BATCH}.csv.json"
    report = sandbox.read_json(outcome["report_key"])
    assert report["problem_count"] == 2
    assert [(p["line"], p["column"]) for p in report["problems"]] == [(3, "amount"), (4, "customer_id")]
    assert "upload the file again" in report["what_to_do"]
    assert sandbox.receive_all() == []  # nothing partial was published

    again = sandbox.deliver(f"orders_{SAMPLE_BATCH}.csv")  # a re-delivery rewrites the report
    assert again["status"] == "rejected" and again["report_key"] == outcome["report_key"]

    fixed = sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", sample_bytes("orders"))

    assert fixed["published_revision"] == 1
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    assert sandbox.result_keys("reports/") == [f"reports/{SAMPLE_BATCH}/batch.json"]


def test_an_unknown_key_gets_a_report_and_touches_nothing_else(sandbox):
    outcome = sandbox.upload("incoming/invoices_20230828.csv", b"a,b\n1,2\n")

    assert outcome["status"] == "rejected"
    assert outcome["report_key"] == "reports/incoming/20230828/invoices_20230828.csv.json"
    report = sandbox.read_json(outcome["report_key"])
    assert "customers_, orders_ or items_" in report["problems"][0]["reason"]
    assert sandbox.receive_all() == []


def test_a_file_over_the_size_limit_is_rejected(sandbox):
    pipeline = wiring.build_pipeline(dataclasses.replace(sandbox.settings, max_file_bytes=10),
                                     sandbox.s3, aws.client("dynamodb"), sandbox.sqs)
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket,
                          Key=f"orders_{SAMPLE_BATCH}.csv", Body=sample_bytes("orders"))

    outcome = pipeline.process_object(sandbox.settings.ingest_bucket, f"orders_{SAMPLE_BATCH}.csv")

    assert outcome.status == "rejected"
    assert outcome.error.startswith(
        f"orders_{SAMPLE_BATCH}.csv was rejected: the file: 98 bytes is more than the limit of 10 "
        f"bytes (MAX_FILE_BYTES), what one invocation can process in time. Split the batch into "
        f"10 or more batches")
    assert outcome.error.endswith(f"orders_{SAMPLE_BATCH}-10.csv, each with the customers and "
                                  f"items files of its batch).")


def test_a_publication_that_failed_is_completed_by_the_retry(sandbox, monkeypatch):
    sandbox.upload(f"customers_{SAMPLE_BATCH}.csv", sample_bytes("customers"))
    sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", sample_bytes("orders"))
    real_publish = SqsPublisher.publish
    calls = []

    def failing_once(self, messages, before_send):
        calls.append(1)
        if len(calls) == 1:
            raise PublishError("the queue is unavailable")
        return real_publish(self, messages, before_send)

    monkeypatch.setattr(SqsPublisher, "publish", failing_once)
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket,
                          Key=f"items_{SAMPLE_BATCH}.csv", Body=sample_bytes("items"))
    with pytest.raises(PublishError):
        sandbox.deliver(f"items_{SAMPLE_BATCH}.csv")
    assert sandbox.receive_all() == []

    retried = sandbox.deliver(f"items_{SAMPLE_BATCH}.csv")  # what Lambda's retry does

    assert retried["status"] == "duplicate" and retried["published_revision"] == 1
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)


def test_two_completions_at_once_claim_one_revision(sandbox):
    for kind in ("customers", "orders", "items"):
        sandbox.upload(f"{kind}_race.csv", sample_bytes(kind).replace(b"1001", b"1011"))
    state = BatchRecords(aws.client("dynamodb"), sandbox.settings.table_name).read_batch("race")
    claims = PublicationClaims(aws.client("dynamodb"), sandbox.settings.table_name)

    # Both read the batch at revision 1 with the same files: one gets revision 2.
    granted = [claims.claim("race", state.versions(), f"request-{n}", latest=state.publication,
                            republish=True) for n in range(2)]

    assert [c.revision if c else None for c in granted] == [2, None]
