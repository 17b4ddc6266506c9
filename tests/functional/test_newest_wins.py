"""Re-uploads: the state always reflects the object's newest content."""
from __future__ import annotations

import pytest

from chalicelib.row_store import RowStore
from tests.conftest import SAMPLE_BATCH, assert_sample_messages, sample_bytes

ORDERS_KEY = f"orders_{SAMPLE_BATCH}.csv"
OLD_ORDERS = b"order_id,customer_id,amount\n1001,1,1.00\n"


def once_while_writing_rows(monkeypatch, action) -> list:
    """Run ``action`` once, when the next invocation has read its file and begins to write
    its rows (before it records the file); the list receives what ``action`` returned."""
    real_write_rows = RowStore.write_rows
    returned: list = []
    started: list = []

    def write_rows(self, *args, **kwargs):
        if not started:  # once: the action's own invocation writes rows too
            started.append(True)
            returned.append(action())
        return real_write_rows(self, *args, **kwargs)

    monkeypatch.setattr(RowStore, "write_rows", write_rows)
    return returned


def complete_batch_without_orders(sandbox):
    sandbox.upload(f"customers_{SAMPLE_BATCH}.csv", sample_bytes("customers"))
    sandbox.upload(f"items_{SAMPLE_BATCH}.csv", sample_bytes("items"))


def test_the_older_uploads_event_arriving_last_is_superseded(sandbox):
    complete_batch_without_orders(sandbox)
    bucket = sandbox.settings.ingest_bucket
    sandbox.s3.put_object(Bucket=bucket, Key=ORDERS_KEY, Body=OLD_ORDERS)
    old_event = sandbox.event_for(ORDERS_KEY)
    sandbox.s3.put_object(Bucket=bucket, Key=ORDERS_KEY, Body=sample_bytes("orders"))
    new_event = sandbox.event_for(ORDERS_KEY)

    first = sandbox.deliver(ORDERS_KEY, new_event)
    late = sandbox.deliver(ORDERS_KEY, old_event)

    assert first["published_revision"] == 1
    assert late["status"] == "superseded"
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)


def test_an_older_event_finishing_after_a_newer_one_does_not_overwrite_it(sandbox, monkeypatch):
    complete_batch_without_orders(sandbox)
    bucket = sandbox.settings.ingest_bucket
    sandbox.s3.put_object(Bucket=bucket, Key=ORDERS_KEY, Body=OLD_ORDERS)
    old_event = sandbox.event_for(ORDERS_KEY)
    # The old event has read its content; now the new upload lands and is handled.
    once_while_writing_rows(monkeypatch, lambda: sandbox.upload(ORDERS_KEY, sample_bytes("orders")))
    late = sandbox.deliver(ORDERS_KEY, old_event)

    assert late["status"] == "superseded"
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    again = sandbox.deliver(ORDERS_KEY)  # and the state still holds the newest version
    assert again["status"] == "duplicate" and again["rows"] == 5


def test_an_identical_reupload_changes_nothing_and_publishes_nothing(sandbox):
    for kind in ("customers", "orders", "items"):
        sandbox.upload(f"{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))
    sandbox.receive_all()

    outcome = sandbox.upload(ORDERS_KEY, sample_bytes("orders"))

    assert outcome["status"] == "duplicate" and outcome["published_revision"] == 0
    assert sandbox.receive_all() == []


def test_an_event_without_a_sequencer_after_one_with_a_sequencer_is_not_superseded(sandbox):
    # An emulator's event may carry no sequencer (S3's always do). A rejected
    # upload's event with one was recorded first; the corrected upload's event
    # has none: it must still replace the rejected file, not wait forever.
    complete_batch_without_orders(sandbox)
    rejected = sandbox.upload(ORDERS_KEY, b"order_id,customer_id,amount\n1001,1,-5\n")
    assert rejected["status"] == "rejected"
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket, Key=ORDERS_KEY,
                          Body=sample_bytes("orders"))
    event = sandbox.event_for(ORDERS_KEY)
    del event["Records"][0]["s3"]["object"]["sequencer"]

    corrected = sandbox.deliver(ORDERS_KEY, event)

    assert (corrected["status"], corrected["published_revision"]) == ("accepted", 1)
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    # A later event with a sequencer is still ordered against the one recorded before.
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket, Key=ORDERS_KEY, Body=OLD_ORDERS)
    assert sandbox.deliver(ORDERS_KEY)["status"] == "accepted"


@pytest.mark.parametrize("between", [OLD_ORDERS, b"order_id,customer_id,amount\n1001,1,-5\n"],
                         ids=["a-changed-file", "a-rejected-file"])
def test_the_first_content_uploaded_again_while_a_change_is_processed_is_what_stays(
        sandbox, monkeypatch, between):
    # A, B, A: the batch is published from A; B is uploaded and its invocation has
    # read B when A's bytes are uploaded again, and that upload's invocation ends
    # first. A is the newest upload: B must not replace it once its invocation ends.
    for kind in ("customers", "orders", "items"):
        sandbox.upload(f"{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    bucket = sandbox.settings.ingest_bucket
    sandbox.s3.put_object(Bucket=bucket, Key=ORDERS_KEY, Body=between)
    b_event = sandbox.event_for(ORDERS_KEY)
    # B's invocation has read B; now A comes back and is handled at once.
    a_again = once_while_writing_rows(
        monkeypatch, lambda: sandbox.upload(ORDERS_KEY, sample_bytes("orders")))
    late_b = sandbox.deliver(ORDERS_KEY, b_event)

    assert a_again[0]["status"] == "duplicate"  # A is what the batch was published from
    assert late_b["status"] == "superseded" and late_b["published_revision"] == 0
    assert sandbox.receive_all() == []  # nothing of B was published
    status = sandbox.client.http.get(f"/batches/{SAMPLE_BATCH}").json_body
    orders = next(f for f in status["files"] if f["kind"] == "orders")
    assert orders["outcome"] == "accepted" and orders["rows"] == 5  # A's five orders
    # B's problems are no report: B was never the file.
    assert f"reports/{SAMPLE_BATCH}/{ORDERS_KEY}.json" not in sandbox.result_keys("reports/")
    again = sandbox.deliver(ORDERS_KEY)  # and the record still holds A
    assert (again["status"], again["rows"], again["published_revision"]) == ("duplicate", 5, 0)
