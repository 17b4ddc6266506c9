"""The batch status a person reads with `make status BATCH=<id>`."""
from __future__ import annotations

from chalicelib.keys import BatchRef
from chalicelib.status import batch_status
from chalicelib.wiring import records_and_reports
from scripts.status import render
from tests.conftest import SAMPLE_BATCH, sample_bytes


def status_of(sandbox, batch_id):
    return batch_status(*records_and_reports(sandbox.settings), BatchRef.parse(batch_id))


def test_status_of_a_waiting_batch_shows_the_rejected_file_and_its_problems(sandbox):
    sandbox.upload(f"customers_{SAMPLE_BATCH}.csv", sample_bytes("customers"))
    sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", b"order_id,customer_id,amount\n1001,1,1.234\n")

    status = status_of(sandbox, SAMPLE_BATCH)

    assert status["waiting_for"] == ["orders", "items"]
    assert not status["published"] and status["revision"] == 0
    orders = status["files"][1]
    assert orders["outcome"] == "rejected" and orders["problem_count"] == 1
    assert orders["problems"][0]["line"] == 2 and orders["problems"][0]["column"] == "amount"
    text = render(status)
    assert "line 2, column amount" in text and "items      not received yet" in text


def test_status_of_a_published_batch_shows_revision_messages_and_orphans(sandbox):
    sandbox.upload(f"customers_{SAMPLE_BATCH}.csv", sample_bytes("customers"))
    sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", sample_bytes("orders") + b"2001,99,5.00\n")
    sandbox.upload(f"items_{SAMPLE_BATCH}.csv", sample_bytes("items") + b"601,3001\n")

    status = status_of(sandbox, SAMPLE_BATCH)

    assert status["published"] and status["revision"] == 1 and status["messages"] == 3
    assert [f["rows"] for f in status["files"]] == [3, 6, 7]
    assert status["orphan_order_count"] == 1 and status["orphan_orders"][0]["order_id"] == "2001"
    assert status["orphan_item_count"] == 1 and status["orphan_items"][0]["item_id"] == "601"
    assert "order 2001 (customer 99): the customer is not in the customers file" in render(status)


def test_status_of_an_unknown_batch_says_so(sandbox):
    status = status_of(sandbox, "never-seen")
    assert not status["known"]
    assert "No file of this batch has been processed" in render(status)
