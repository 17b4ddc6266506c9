"""Rows as chunks: what the table keeps of a batch, for how long, and what it lets go.

Through the real handler (Chalice's test client) against moto in-process. The
table is read directly here only to count what it holds: a user sees that as
cost and as the sandbox's speed.
"""
from __future__ import annotations

import threading
import time

import pytest

from chalicelib import wiring
from chalicelib.keys import BatchRef
from chalicelib.row_store import RowsMissingError
from chalicelib.status import batch_status
from scripts.status import render
from tests.conftest import SAMPLE_BATCH, assert_sample_messages, sample_bytes

KINDS = ("customers", "orders", "items")
DAY = 86_400


def key_of(kind: str, batch_id: str = SAMPLE_BATCH) -> str:
    return f"partner/{kind}_{batch_id}.csv"


def chunk_sets(sb) -> dict[str, set[str]]:
    """The write ids of the chunks in the table, by kind."""
    found: dict[str, set[str]] = {}
    paginator = sb.resources and wiring.aws.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=sb.settings.table_name):
        for item in page["Items"]:
            pk = item["pk"]["S"]
            if pk.startswith("rows#"):
                _, _batch, kind, write_id, _slot = pk.rsplit("#", 4)
                found.setdefault(kind, set()).add(write_id)
    return found


def chunk_count(sb) -> int:
    paginator = wiring.aws.client("dynamodb").get_paginator("scan")
    return sum(1 for page in paginator.paginate(TableName=sb.settings.table_name)
               for item in page["Items"] if item["pk"]["S"].startswith("rows#"))


def current_write_ids(sb, batch_id: str = SAMPLE_BATCH) -> dict[str, str]:
    records, _ = wiring.records_and_reports(sb.settings)
    state = records.read_batch(BatchRef("partner", batch_id).key)
    return {kind: record.write_id for kind, record in state.files.items()}


def publish_sample(sb, batch_id: str = SAMPLE_BATCH) -> list[dict]:
    outcomes = [sb.upload(key_of(kind, batch_id), sample_bytes(kind)) for kind in KINDS]
    assert outcomes[-1]["published_revision"] >= 1
    return outcomes


def test_a_small_batch_is_three_chunk_items_and_publishes_from_them(sandbox):
    publish_sample(sandbox)

    assert chunk_count(sandbox) == 3  # one chunk a file, whatever its rows
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)


def test_a_replaced_upload_s_chunks_are_deleted_once_the_batch_is_published_again(sandbox):
    publish_sample(sandbox)
    first = current_write_ids(sandbox)
    changed = sample_bytes("orders").replace(b"1001,1,250.00", b"1001,1,251.00")

    outcome = sandbox.upload(key_of("orders"), changed)

    assert outcome["published_revision"] == 2
    now = current_write_ids(sandbox)
    assert now["orders"] != first["orders"]
    # Only the published versions are left: the first orders version is gone.
    assert chunk_sets(sandbox) == {kind: {now[kind]} for kind in KINDS}


def test_a_rejected_file_leaves_no_rows_behind(sandbox, small_chunks):
    # The good rows fill chunks before the bad one is read.
    good = [f"{n},1,{n}.00" for n in range(1000, 1400)]
    body = ("order_id,customer_id,amount\n" + "\n".join(good) + "\n9999,1,-5\n").encode()

    outcome = sandbox.upload(key_of("orders"), body)

    assert outcome["status"] == "rejected"
    assert chunk_count(sandbox) == 0


def test_an_upload_that_loses_to_a_newer_one_leaves_no_rows_behind(sandbox):
    # The older event reads its content, then the newer upload is processed
    # first (its sequencer is higher): the older rows are never recorded.
    key = key_of("orders")
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket, Key=key, Body=sample_bytes("orders"))
    older = sandbox.event_for(key)
    newer = sandbox.event_for(key)
    assert sandbox.deliver(key, newer)["status"] == "accepted"

    late = sandbox.deliver(key, older)

    # Same content: the late event is a duplicate of what is recorded.
    assert late["status"] == "duplicate"
    assert chunk_sets(sandbox) == {"orders": {current_write_ids(sandbox)["orders"]}}


def test_the_same_event_twice_writes_the_same_chunks_and_a_reupload_writes_its_own(sandbox):
    key = key_of("customers")
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket, Key=key, Body=sample_bytes("customers"))
    event = sandbox.event_for(key)
    sandbox.deliver(key, event)
    first = current_write_ids(sandbox)["customers"]
    sandbox.deliver(key, event)  # a re-delivery of the same event
    assert current_write_ids(sandbox)["customers"] == first and chunk_count(sandbox) == 1

    # The same bytes uploaded again are a new version with a set of its own
    # (unless recorded as a duplicate, as here: nothing is written at all).
    assert sandbox.upload(key, sample_bytes("customers"))["status"] == "duplicate"
    assert chunk_count(sandbox) == 1


def test_a_crash_between_two_chunks_is_repaired_by_the_retry_without_a_second_set(
        sandbox, small_chunks):
    for kind in ("customers", "orders"):
        sandbox.upload(key_of(kind), sample_bytes(kind))
    items = key_of("items")
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket, Key=items, Body=sample_bytes("items"))
    event = sandbox.event_for(items)
    client = wiring.aws.client("dynamodb")
    calls = []

    def crash_on_the_second_group(params, **_):
        calls.append(params)
        if len(calls) == 2:
            raise ConnectionError("the function's host went away")

    client.meta.events.register("before-call.dynamodb.BatchWriteItem", crash_on_the_second_group)
    try:
        with wiring.using(group_size=1), pytest.raises(ConnectionError):  # one chunk per call
            sandbox.deliver(items, event)
    finally:
        client.meta.events.unregister("before-call.dynamodb.BatchWriteItem", crash_on_the_second_group)
    assert batch_status(*wiring.records_and_reports(sandbox.settings),
                        BatchRef("partner", SAMPLE_BATCH))["files"][2]["outcome"] == "not received"

    retried = sandbox.deliver(items, event)  # Lambda's retry: the same event

    assert retried["published_revision"] == 1
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    # The retry rewrote the same chunk items: one set per kind, none left over.
    assert {kind: len(ids) for kind, ids in chunk_sets(sandbox).items()} == dict.fromkeys(KINDS, 1)


def test_deleting_an_old_version_never_touches_a_reupload_of_the_same_content(sandbox):
    # orders v1 -> v2 -> v1 again. v2's publication deletes v1's first set;
    # while it does, the same bytes as v1 are uploaded and processed. That
    # upload's rows are a new set (its own write id), so the delete cannot
    # reach them, and the batch ends on v1's totals, complete.
    publish_sample(sandbox)
    v1_set = current_write_ids(sandbox)["orders"]
    sandbox.receive_all()
    client = wiring.aws.client("dynamodb")
    reupload: list[dict] = []

    def reupload_while_deleting(params, **_):
        deletes = [r for r in params["RequestItems"][sandbox.settings.table_name] if "DeleteRequest" in r]
        if deletes and not reupload:
            reupload.append({})
            run = threading.Thread(target=lambda: reupload.append(
                sandbox.upload(key_of("orders"), sample_bytes("orders"))))
            run.start()
            run.join()

    client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", reupload_while_deleting)
    try:
        changed = sample_bytes("orders").replace(b"1001,1,250.00", b"1001,1,251.00")
        second = sandbox.upload(key_of("orders"), changed)
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.BatchWriteItem",
                                      reupload_while_deleting)

    third = reupload[1]
    assert (second["published_revision"], third["published_revision"]) == (2, 3)
    now = current_write_ids(sandbox)
    assert now["orders"] != v1_set  # same bytes as v1, a set of its own
    messages = [m for m in sandbox.receive_all() if m["revision"] == 3]
    assert_sample_messages(messages, SAMPLE_BATCH, revision=3)
    # v1's first set and v2's are gone; the re-upload's is whole (it published from it).
    assert chunk_sets(sandbox)["orders"] == {now["orders"]}
    # The customer route reads the current chunks too.
    again = sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}/customers/1?folder=partner")
    assert again.status_code == 200 and again.json_body["total_amount_spent"] == 400


@pytest.fixture
def clock(sandbox):
    """The app's clock, held still, to move days ahead."""
    now = [time.time()]
    with wiring.using(clock=lambda: now[0]):
        yield now


def test_rows_carry_a_ttl_of_the_stage_s_retention(sandbox, clock):
    sandbox.upload(key_of("customers"), sample_bytes("customers"))
    [item] = [i for i in wiring.aws.client("dynamodb").scan(TableName=sandbox.settings.table_name)["Items"]
              if i["pk"]["S"].startswith("rows#")]
    assert int(item["expires_at"]["N"]) == int(clock[0]) + sandbox.settings.row_retention_days * DAY
    ttl = wiring.aws.client("dynamodb").describe_time_to_live(TableName=sandbox.settings.table_name)
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_a_file_whose_rows_expired_counts_as_missing_and_says_so(sandbox, clock):
    sandbox.upload(key_of("customers"), sample_bytes("customers"))
    clock[0] += 31 * DAY

    sandbox.upload(key_of("orders"), sample_bytes("orders"))
    outcome = sandbox.upload(key_of("items"), sample_bytes("items"))

    assert (outcome["published_revision"], outcome["waiting_for"]) == (0, ["customers"])
    assert "rows of the customers file partner/customers_" in outcome["error"]
    assert "expired on" in outcome["error"] and "upload the file again" in outcome["error"]
    found = batch_status(*wiring.records_and_reports(sandbox.settings, clock=lambda: clock[0]),
                         BatchRef("partner", SAMPLE_BATCH))
    assert found["waiting_for"] == ["customers"]
    shown = render(found)  # what `make status` prints
    assert "rows expired on" in shown and "Waiting for: customers" in shown
    assert "Expired: the rows of the customers file" in shown
    assert sandbox.receive_all() == []

    # The same bytes uploaded again are processed anew (not a duplicate) and complete the batch.
    again = sandbox.upload(key_of("customers"), sample_bytes("customers"))
    assert (again["status"], again["published_revision"]) == ("accepted", 1)
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)


def test_publishing_an_expired_batch_again_says_its_rows_expired(sandbox, clock):
    publish_sample(sandbox)
    sandbox.receive_all()
    clock[0] += 31 * DAY

    response = sandbox.client.http.post(f"/batches/{SAMPLE_BATCH}/publish?folder=partner")

    assert response.status_code == 409
    body = response.json_body
    assert "expired on" in body["Message"] and "ROW_RETENTION_DAYS" in body["Message"]
    assert sandbox.receive_all() == []


def test_expired_chunks_that_ttl_has_not_removed_are_not_read(sandbox, clock):
    # A record that still says the rows are current, chunks past their time:
    # the read filters them, and the publication fails loudly rather than
    # publish a batch without its rows.
    for kind in ("customers", "orders"):
        sandbox.upload(key_of(kind), sample_bytes(kind))
    dynamodb = wiring.aws.client("dynamodb")
    table = sandbox.settings.table_name
    for item in dynamodb.scan(TableName=table)["Items"]:
        if item["pk"]["S"].startswith("rows#") and "#orders#" in item["pk"]["S"]:
            dynamodb.update_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]},
                                 UpdateExpression="SET expires_at = :past",
                                 ExpressionAttributeValues={":past": {"N": "1000"}})

    with pytest.raises(RowsMissingError, match="chunk 0 of the orders file"):
        sandbox.upload(key_of("items"), sample_bytes("items"))
    assert sandbox.receive_all() == []
