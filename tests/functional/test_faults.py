"""Faults at the AWS call level, through the real code path.

The app runs through Chalice's test client against moto in-process, exactly as
in test_handler.py. Faults are injected with botocore event hooks on the very
clients the app uses (``chalicelib.aws`` caches them, so ``aws.client("sqs")``
here is the app's client):

* ``before-send`` runs *inside* botocore's retry loop, once per HTTP attempt:
  a response returned there is parsed and retried like a real one
  (throttling), and a network exception raised there is retried by botocore.
  moto answers in-process from a ``before-send`` handler too, so the ``Wire``
  below takes its place on the app's clients and decides, per attempt, whether
  moto performs the request (before, after or instead of the fault).
* ``before-call`` / ``after-call`` wrap one API call of the app (outside the
  retry loop) and share a ``context`` dict: used to make a call do part of its
  work and report the rest as unprocessed / failed.

Each test asserts what a user sees: the messages on the output queue (with the
``idempotency_key`` attribute), the batch status, and the handler's outcome or
error. Back-off sleeps are injected (store, publisher) or recorded (botocore),
never slept, so the file runs in seconds. The wire and its helpers are in
``wire.py``; races between invocations for a publication are in
``test_publication_once.py``.
"""
from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from chalicelib.errors import PipelineError, PublishError
from tests.conftest import SAMPLE_BATCH, assert_sample_messages, sample_bytes
from tests.functional.wire import (
    FOLDER,
    KINDS,
    bodies,
    clean_run,
    comparable_status,
    distinct,
    error_response,
    hooked,
    is_claim,
    is_file_record,
    is_mark_published,
    neutral,
    put,
    report_keys,
    start_batch,
    status,
)

# --- 1. throttling ------------------------------------------------------------------
THROTTLED = {"dynamodb": ("ProvisionedThroughputExceededException", "ThrottlingException"),
             "sqs": ("ThrottlingException",)}


def test_throttled_calls_are_retried_and_the_batch_is_published_once(sandbox, sleeps, wire):
    # Every distinct DynamoDB and SQS request of the three invocations is
    # throttled twice (alternating error codes), then let through: botocore's
    # standard retry mode (5 attempts) must absorb it without the app noticing.
    # A throttled request never reaches moto, as with the real services.
    seen: Counter = Counter()
    throttled: Counter = Counter()
    lock = threading.Lock()

    def throttle(attempt):
        if attempt.service not in THROTTLED:
            return None
        with lock:  # row writes run on several threads
            seen[(attempt.operation, attempt.request.body)] += 1
            n = seen[(attempt.operation, attempt.request.body)]
            if n > 2:
                return None  # moto answers
            throttled[attempt.operation] += 1
        codes = THROTTLED[attempt.service]
        return error_response(attempt.request, attempt.service, codes[(n - 1) % len(codes)])

    with wire.fault(throttle):
        outcomes = [sandbox.deliver(put(sandbox, kind, SAMPLE_BATCH)) for kind in KINDS]

    # The faults did hit every kind of call on the way (else the test proves nothing).
    assert {"Query", "BatchWriteItem", "UpdateItem", "GetQueueAttributes",
            "SendMessageBatch"} <= set(throttled)
    assert len(sleeps.sdk) == sum(throttled.values())  # each throttle was followed by a retry
    assert [o["status"] for o in outcomes] == ["accepted"] * 3
    assert [o["published_revision"] for o in outcomes] == [0, 0, 1]
    assert_sample_messages(bodies(distinct(sandbox.take_messages(), repeats_allowed=False)), SAMPLE_BATCH)
    found = status(sandbox, SAMPLE_BATCH)
    assert (found["publication_state"], found["revision"], found["messages"]) == ("published", 1, 3)
    assert [f["rows"] for f in found["files"]] == [3, 5, 6]


def test_throttling_beyond_the_retries_fails_the_invocation_and_the_redelivery_publishes(
        sandbox, sleeps, wire):
    for kind in ("customers", "orders"):
        sandbox.deliver(put(sandbox, kind, SAMPLE_BATCH))
    items = put(sandbox, "items", SAMPLE_BATCH)
    event = sandbox.event_for(items)

    throttled = []

    def always_throttled(attempt):
        if attempt.operation == "SendMessageBatch":
            throttled.append(attempt)
            return error_response(attempt.request, "sqs", "ThrottlingException")

    with wire.fault(always_throttled), pytest.raises(ClientError) as raised:
        sandbox.deliver(items, event)
    # The SDK retried (a back-off before each retry), gave up, and said why.
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert len(throttled) > 1 and len(sleeps.sdk) == len(throttled) - 1
    assert sandbox.take_messages() == []
    assert status(sandbox, SAMPLE_BATCH)["publication_state"] == "publishing"  # claimed, not published

    retried = sandbox.deliver(items, event)  # Lambda's retry of the same event

    assert (retried["status"], retried["published_revision"]) == ("duplicate", 1)
    # Nothing had landed, so each customer's message arrives exactly once.
    assert_sample_messages(bodies(distinct(sandbox.take_messages(), repeats_allowed=False)), SAMPLE_BATCH)
    assert status(sandbox, SAMPLE_BATCH)["published"]


def test_a_query_throttled_in_the_middle_of_a_publication_is_retried_and_nothing_is_lost(
        sandbox, sleeps, wire, small_chunks):
    # Many chunks per file: the publication reads several slots in parallel.
    # Every third chunk Query is throttled twice, once the publication has begun.
    files, expected = big_batch()
    for kind in ("customers", "orders"):
        sandbox.deliver(put(sandbox, kind, "Q1", files[kind]))
    items = put(sandbox, "items", "Q1", files["items"])
    queries = Counter()
    lock = threading.Lock()

    def throttle_chunk_queries(attempt):
        if attempt.operation != "Query" or not attempt.body()["ExpressionAttributeValues"][
                ":pk"]["S"].startswith("rows#"):
            return None
        with lock:
            queries["all"] += 1
            key = attempt.request.body
            queries[key] += 1
            if queries["all"] % 3 or queries[key] > 2:
                return None
            queries["throttled"] += 1
        return error_response(attempt.request, "dynamodb", "ProvisionedThroughputExceededException")

    with wire.fault(throttle_chunk_queries):
        outcome = sandbox.deliver(items)

    assert queries["throttled"] >= 3
    assert (outcome["published_revision"], outcome["messages"]) == (1, 30)
    messages = {m["id"]: m for m in bodies(distinct(sandbox.take_messages(), repeats_allowed=False))}
    assert sorted(messages) == sorted(expected)
    for customer_id, want in expected.items():
        assert str(messages[customer_id]["total_amount_spent"]) == want["total"]
        assert {o["id"]: o["item_ids"] for o in messages[customer_id]["orders"]} == want["orders"]


# --- 2. BatchWriteItem leaving UnprocessedItems --------------------------------------
def big_batch(customers: int = 30, orders: int = 90, items: int = 160):
    """Files of several 25-row write groups, and each customer's expected message."""
    rows = {
        "customers": ["customer_id,customer_name"] + [f"{c},Customer {c}" for c in range(1, customers + 1)],
        "orders": ["order_id,customer_id,amount"] + [
            f"{o},{o % customers + 1},{o}.{o % 100:02d}" for o in range(1, orders + 1)],
        "items": ["item_id,order_id"] + [f"{i},{i % orders + 1}" for i in range(1, items + 1)],
    }
    expected = {}
    for c in range(1, customers + 1):
        mine = sorted(o for o in range(1, orders + 1) if o % customers + 1 == c)
        expected[str(c)] = {
            "total": _cents(sum(o * 100 + o % 100 for o in mine)),  # amount o.<o % 100>
            "orders": {str(o): sorted((str(i) for i in range(1, items + 1) if i % orders + 1 == o), key=int)
                       for o in mine},
        }
    return {k: ("\n".join(v) + "\n").encode() for k, v in rows.items()}, expected


def _cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def as_parsed(requests: list[dict]) -> list[dict]:
    """Write requests from a request body (binary values in base64) as a response has them."""
    def value(v: dict) -> dict:
        return {"B": base64.b64decode(v["B"])} if "B" in v else v
    return [{verb: {part: {name: value(v) for name, v in attributes.items()}
                    for part, attributes in request.items()}}
            for verb, request in (next(iter(r.items())) for r in requests)]


def half_unprocessed():
    """before-call / after-call hooks making every BatchWriteItem of more than one
    item write only the first half and hand the rest back as UnprocessedItems.

    A group of 25 therefore takes 6 calls (of 25, 13, 7, 4, 2 and 1 items),
    within the store's 8 attempts. The shortened request is what goes to moto,
    so the unprocessed items really are not in the table until retried.
    """
    calls = Counter()
    lock = threading.Lock()  # the store writes groups from several threads

    def before(params, context, **_):
        body = json.loads(params["body"])
        (table, requests), = body["RequestItems"].items()
        partial = len(requests) > 1
        if partial:
            keep = len(requests) // 2
            body["RequestItems"][table] = requests[:keep]
            params["body"] = json.dumps(body).encode()
            # per call, hence thread-safe; as botocore parses it: binary values as bytes
            context["unprocessed"] = {table: as_parsed(requests[keep:])}
        with lock:
            calls["all"] += 1
            calls["partial"] += partial

    def after(parsed, context, **_):
        if "unprocessed" in context:
            parsed["UnprocessedItems"] = context["unprocessed"]

    return calls, [("before-call.dynamodb.BatchWriteItem", before),
                   ("after-call.dynamodb.BatchWriteItem", after)]


def test_unprocessed_items_are_written_again_until_every_row_is_in(sandbox, sleeps, small_chunks):
    files, expected = big_batch()
    calls, hooks = half_unprocessed()

    with hooked(*hooks):
        outcomes = [sandbox.deliver(put(sandbox, kind, "B1", files[kind])) for kind in KINDS]

    assert calls["partial"] >= 5 * 3 and calls["all"] > calls["partial"]  # it did happen, often
    assert len(sleeps.store) == calls["partial"]  # the store backed off before each retry
    assert [o["rows"] for o in outcomes] == [30, 90, 160]
    assert outcomes[-1]["published_revision"] == 1
    found = status(sandbox, "B1")
    assert [f["rows"] for f in found["files"]] == [30, 90, 160]
    assert (found["published"], found["messages"], found["orphan_order_count"],
            found["orphan_item_count"]) == (True, 30, 0, 0)
    # The totals are recomputed from the stored rows: a row lost would show here.
    messages = {m["id"]: m for m in bodies(distinct(sandbox.take_messages(), repeats_allowed=False))}
    assert sorted(messages) == sorted(expected)
    for customer_id, want in expected.items():
        assert str(messages[customer_id]["total_amount_spent"]) == want["total"]
        assert {o["id"]: o["item_ids"] for o in messages[customer_id]["orders"]} == want["orders"]


def test_items_left_unprocessed_after_every_attempt_fail_the_file_and_record_nothing(
        sandbox, sleeps):
    sandbox.deliver(put(sandbox, "customers", SAMPLE_BATCH))
    orders = put(sandbox, "orders", SAMPLE_BATCH)

    def nothing_processed(params, **_):
        body = json.loads(params["body"])
        return (SimpleNamespace(status_code=200),
                {"UnprocessedItems": body["RequestItems"], "ResponseMetadata": {}})

    with (hooked(("before-call.dynamodb.BatchWriteItem", nothing_processed)),
          pytest.raises(PipelineError, match=r"left 1 write\(s\) unprocessed .* after 8 attempts")):
        sandbox.deliver(orders)
    # The file record is written after its rows: a file whose rows are not all
    # in is not counted as received.
    found = status(sandbox, SAMPLE_BATCH)
    assert found["files"][1] == {"kind": "orders", "outcome": "not received"}

    assert sandbox.deliver(orders)["status"] == "accepted"  # Lambda's retry
    sandbox.deliver(put(sandbox, "items", SAMPLE_BATCH))
    assert_sample_messages(bodies(distinct(sandbox.take_messages(), repeats_allowed=False)), SAMPLE_BATCH)


# --- 3. SendMessageBatch with entries in Failed --------------------------------------
def failing_entries(customer_ids: set[str], sender_fault: bool, times: int):
    """Hooks answering SendMessageBatch with HTTP 200 and the entries of these
    customers in ``Failed``, ``times`` times each; the other entries really go
    to the queue (the request moto gets is shortened to them)."""
    failures = Counter()

    def before(params, context, **_):
        body = json.loads(params["body"])
        kept, failed = [], []
        for entry in body["Entries"]:
            customer = entry["MessageAttributes"]["customer_id"]["StringValue"]
            if customer in customer_ids and failures[customer] < times:
                failures[customer] += 1
                failed.append({"Id": entry["Id"], "SenderFault": sender_fault,
                               "Code": "InvalidParameterValue" if sender_fault else "InternalError",
                               "Message": "injected"})
            else:
                kept.append(entry)
        if failed:
            body["Entries"] = kept
            params["body"] = json.dumps(body).encode()
            context["failed"] = failed
            if not kept:  # SQS refuses an empty batch; answer for it
                return SimpleNamespace(status_code=200), {"Successful": [], "Failed": failed}

    def after(parsed, context, **_):
        if "failed" in context:
            parsed["Failed"] = context["failed"]

    return failures, [("before-call.sqs.SendMessageBatch", before),
                      ("after-call.sqs.SendMessageBatch", after)]


def test_entries_failed_by_the_service_are_sent_again_and_arrive_once(sandbox, sleeps):
    failures, hooks = failing_entries({"2", "3"}, sender_fault=False, times=2)

    with hooked(*hooks):
        outcomes = [sandbox.deliver(put(sandbox, kind, SAMPLE_BATCH)) for kind in KINDS]

    assert failures == {"2": 2, "3": 2}
    assert len(sleeps.publisher) == 2  # backed off before each of the two re-sends
    assert (outcomes[-1]["published_revision"], outcomes[-1]["messages"]) == (1, 3)
    # Only the failed entries were sent again: customer 1 is not repeated.
    assert_sample_messages(bodies(distinct(sandbox.take_messages(), repeats_allowed=False)), SAMPLE_BATCH)
    assert status(sandbox, SAMPLE_BATCH)["published"]


def test_entries_failed_in_several_parallel_calls_are_each_sent_again_and_arrive_once(sandbox, sleeps):
    # 30 customers: three SendMessageBatch calls in flight at once, with
    # failed entries in each of them.
    files, expected = big_batch()
    failures, hooks = failing_entries({"1", "12", "25", "30"}, sender_fault=False, times=2)

    with hooked(*hooks):
        outcomes = [sandbox.deliver(put(sandbox, kind, "P1", files[kind])) for kind in KINDS]

    assert failures == {"1": 2, "12": 2, "25": 2, "30": 2}
    assert (outcomes[-1]["published_revision"], outcomes[-1]["messages"]) == (1, 30)
    messages = {m["id"]: m for m in bodies(distinct(sandbox.take_messages(), repeats_allowed=False))}
    assert sorted(messages) == sorted(expected)
    for customer_id, want in expected.items():
        assert str(messages[customer_id]["total_amount_spent"]) == want["total"]


def test_an_entry_refused_as_the_senders_fault_fails_the_invocation_and_the_retry_publishes(
        sandbox, sleeps):
    clean_status, clean_messages = clean_run(sandbox, "CLEAN")
    for kind in ("customers", "orders"):
        sandbox.deliver(put(sandbox, kind, SAMPLE_BATCH))
    items = put(sandbox, "items", SAMPLE_BATCH)
    event = sandbox.event_for(items)
    failures, hooks = failing_entries({"2"}, sender_fault=True, times=1)

    with (hooked(*hooks),
          pytest.raises(PublishError, match="the output queue refused message.*InvalidParameterValue")):
        sandbox.deliver(items, event)
    # Not retried in place (it cannot get better by itself) and not marked published.
    assert failures == {"2": 1} and sleeps.publisher == []
    found = status(sandbox, SAMPLE_BATCH)
    assert (found["published"], found["publication_state"], found["messages"]) == (False, "publishing", 0)
    first = sandbox.take_messages()
    assert sorted(message.key for message in first) == [f"{FOLDER}/{SAMPLE_BATCH}/1/1",
                                                        f"{FOLDER}/{SAMPLE_BATCH}/3/1"]

    retried = sandbox.deliver(items, event)  # Lambda's retry, the cause gone

    assert (retried["status"], retried["published_revision"]) == ("duplicate", 1)
    # README Guarantee 3: the retry sends the revision again; 1 and 3 arrive twice,
    # identical, and the distinct messages are those of a clean run.
    messages = distinct(first + sandbox.take_messages(), repeats_allowed=True)
    assert_sample_messages(bodies(messages), SAMPLE_BATCH)
    assert neutral(messages, SAMPLE_BATCH) == neutral(distinct(clean_messages, False), "CLEAN")
    assert comparable_status(sandbox, SAMPLE_BATCH) == clean_status


# --- 4. time-outs after a write landed -------------------------------------------------
# The writes of the invocation that completes the batch, in the order it makes them.
WRITES = {
    "rows BatchWriteItem": lambda a: a.operation == "BatchWriteItem",
    "file record UpdateItem": is_file_record,
    "claim TransactWriteItems": is_claim,
    "messages SendMessageBatch": lambda a: a.operation == "SendMessageBatch",
    "batch report PutObject": lambda a: (a.operation == "PutObject"
                                         and a.request.url.endswith("/batch.json")),
    "published UpdateItem": lambda a: a.operation == "UpdateItem" and is_mark_published(a.body()),
}


# Failing here leaves messages sent but the publication not marked published.
PART_WAY = ("messages SendMessageBatch", "batch report PutObject")


def lands_then_times_out(matches, later_attempts: str):
    """The first matching attempt is performed by moto, then its answer is lost
    (ReadTimeoutError, which botocore retries). Later matching attempts either
    never get through (``"down"``: the connection stays lost, so the invocation
    fails once the SDK gives up) or go through (``"up"``: the SDK's retry
    succeeds and the invocation does not notice the time-out)."""
    log = Counter()

    def fault(attempt):
        if not matches(attempt):
            return None
        log["matched"] += 1
        if log["matched"] == 1:
            attempt.send()  # the write lands...
            raise ReadTimeoutError(endpoint_url=attempt.request.url)  # ...its answer does not
        if later_attempts == "down":
            raise EndpointConnectionError(endpoint_url=attempt.request.url)
        return None

    return log, fault


@pytest.mark.parametrize("write", list(WRITES))
def test_a_time_out_after_a_write_landed_then_the_redelivery_converges_to_a_clean_run(
        sandbox, wire, write):
    clean_status, clean_messages = clean_run(sandbox, "CLEAN")
    items, event = start_batch(sandbox, SAMPLE_BATCH)
    log, fault = lands_then_times_out(WRITES[write], later_attempts="down")

    with wire.fault(fault), pytest.raises(EndpointConnectionError):
        sandbox.deliver(items, event)
    assert log["matched"] > 1  # landed once, then the SDK's retries could not get through
    first = sandbox.take_messages()

    sandbox.retry(items, event)  # Lambda's retry of the failed invocation

    # README Guarantee 2: the state of one clean run. Guarantee 3: if publishing
    # failed part-way (messages sent, publication not marked), the retry sends
    # the revision again: identical repeats; otherwise each message comes once.
    messages = distinct(first + sandbox.take_messages(), repeats_allowed=write in PART_WAY)
    assert_sample_messages(bodies(messages), SAMPLE_BATCH)
    assert neutral(messages, SAMPLE_BATCH) == neutral(distinct(clean_messages, False), "CLEAN")
    assert comparable_status(sandbox, SAMPLE_BATCH) == clean_status
    assert report_keys(sandbox, SAMPLE_BATCH) == [f"reports/{FOLDER}/{SAMPLE_BATCH}/batch.json"]


@pytest.mark.parametrize("write", WRITES)
def test_a_time_out_the_sdk_retries_after_the_write_landed_still_gives_a_clean_run(
        sandbox, wire, write):
    # The usual form of a time-out: the SDK's own retry goes through. The write
    # then arrives twice, and the second must not change the outcome.
    clean_status, clean_messages = clean_run(sandbox, "CLEAN")
    items, event = start_batch(sandbox, SAMPLE_BATCH)
    log, fault = lands_then_times_out(WRITES[write], later_attempts="up")

    with wire.fault(fault):
        outcome = sandbox.deliver(items, event)  # no error: the SDK hid the time-out

    assert log["matched"] == 2
    # Lambda does not retry a successful invocation: this one must have published.
    assert outcome["published_revision"] == 1
    # Only a re-sent SendMessageBatch may repeat (identical) messages.
    messages = distinct(sandbox.take_messages(), repeats_allowed=write == "messages SendMessageBatch")
    assert_sample_messages(bodies(messages), SAMPLE_BATCH)
    assert neutral(messages, SAMPLE_BATCH) == neutral(distinct(clean_messages, False), "CLEAN")
    assert comparable_status(sandbox, SAMPLE_BATCH) == clean_status


def test_a_failure_after_a_corrected_file_was_recorded_still_removes_the_old_rejection_report(
        sandbox, wire):
    bad = put(sandbox, "orders", SAMPLE_BATCH, b"order_id,customer_id,amount\n1001,1,-5\n")
    assert sandbox.deliver(bad)["status"] == "rejected"
    assert report_keys(sandbox, SAMPLE_BATCH) == [
        f"reports/{FOLDER}/{SAMPLE_BATCH}/orders_{SAMPLE_BATCH}.csv.json"]
    fixed = put(sandbox, "orders", SAMPLE_BATCH)
    event = sandbox.event_for(fixed)

    def report_delete_fails(attempt):
        # The file record has landed; the connection drops before the report is deleted.
        if attempt.operation == "DeleteObject":
            raise EndpointConnectionError(endpoint_url=attempt.request.url)

    with wire.fault(report_delete_fails), pytest.raises(EndpointConnectionError):
        sandbox.deliver(fixed, event)
    sandbox.deliver(fixed, event)  # Lambda's retry

    # As after a clean run (test_handler): the corrected file released the batch
    # and its rejection report is history.
    assert report_keys(sandbox, SAMPLE_BATCH) == []


# --- 5. conditional checks that fail ------------------------------------------------
def test_a_file_record_that_loses_to_a_newer_upload_is_superseded_and_counts_nothing(
        sandbox, wire):
    for kind in ("customers", "items"):
        sandbox.deliver(put(sandbox, kind, SAMPLE_BATCH))
    older = put(sandbox, "orders", SAMPLE_BATCH)
    older_event = sandbox.event_for(older)
    newer_body = sample_bytes("orders").replace(b"1001,1,250.00", b"1001,1,251.00")
    newer = []

    def newer_upload_recorded_first(attempt):
        # The older event has read its (then current) object and written its
        # rows; before its file record lands, the partner uploads again and that
        # upload's invocation (another Lambda instance) runs to completion.
        if is_file_record(attempt) and not newer:
            newer.append(None)
            put(sandbox, "orders", SAMPLE_BATCH, newer_body)
            newer.append(sandbox.s3.head_object(Bucket=sandbox.settings.ingest_bucket,
                                                Key=older)["ETag"].strip('"'))
            run = threading.Thread(target=lambda: newer.append(sandbox.deliver(older)))
            run.start()
            run.join()

    with wire.fault(newer_upload_recorded_first):
        outcome = sandbox.deliver(older, older_event)

    newer_etag, newer_outcome = newer[1:]
    assert newer_outcome["published_revision"] == 1
    assert outcome["status"] == "superseded" and "newer upload" in outcome["error"]
    assert (outcome["rows"], outcome["published_revision"], outcome["messages"]) == (0, 0, 0)
    # The batch is the newer file's: its record, and its totals only (the older
    # version's rows are neither recorded nor added on top).
    found = status(sandbox, SAMPLE_BATCH)
    assert found["files"][1]["etag"] == newer_etag != older_event["Records"][0]["s3"]["object"]["eTag"]
    messages = {m["id"]: m for m in bodies(distinct(sandbox.take_messages(), repeats_allowed=False))}
    assert {i: str(m["total_amount_spent"]) for i, m in messages.items()} == {
        "1": "401.00", "2": "300.00", "3": "200.00"}
    assert {m["revision"] for m in messages.values()} == {1}
    assert (found["revision"], found["messages"], found["files"][1]["rows"]) == (1, 3, 5)
