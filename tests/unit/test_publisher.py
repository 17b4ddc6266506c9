"""SqsPublisher: batch limits, per-entry retries and offloading, against botocore's Stubber."""
from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.errors import MessageTooLargeError, PublishError
from chalicelib.messages import to_json
from chalicelib.model import CustomerMessage, OrderSummary
from chalicelib.payloads import POINTER_CLASS, SIZE_ATTRIBUTE, parse_pointer
from chalicelib.publisher import SqsPublisher

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/customers"


def message(customer: str, orders: int = 1, batch: str = "b1") -> CustomerMessage:
    summaries = tuple(OrderSummary(f"o{customer}-{n}", Decimal("1.50"), (f"i{n}",)) for n in range(orders))
    return CustomerMessage(batch, 1, customer, f"Name {customer}", Decimal("1.50") * orders, summaries)


class RecordingPayloads:
    """A payload store that keeps bodies in memory; the real one is tested against S3."""

    def __init__(self) -> None:
        self.bodies: dict[str, str] = {}

    def put(self, batch_id: str, revision: int, customer_id: str, body: str) -> str:
        key = f"payloads/{batch_id}/{revision}/{customer_id}.json"
        self.bodies[key] = body
        return f'["{POINTER_CLASS}", {{"s3BucketName": "bucket", "s3Key": "{key}"}}]'


@pytest.fixture
def sqs(aws_credentials):
    client = boto3.client("sqs", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_limit(stubber: Stubber, limit: int) -> None:
    stubber.add_response("get_queue_attributes", {"Attributes": {"MaximumMessageSize": str(limit)}},
                         {"QueueUrl": QUEUE_URL, "AttributeNames": ["MaximumMessageSize"]})


def expect_send(stubber: Stubber, ids: list[str], failed: list[dict] | None = None) -> None:
    failed = failed or []
    failed_ids = {f["Id"] for f in failed}
    stubber.add_response(
        "send_message_batch",
        {"Successful": [{"Id": i, "MessageId": f"m{i}", "MD5OfMessageBody": "x"}
                        for i in ids if i not in failed_ids],
         "Failed": failed},
        {"QueueUrl": QUEUE_URL, "Entries": ANY})


def test_sends_in_batches_of_at_most_ten(sqs):
    client, stubber = sqs
    expect_limit(stubber, 1024 * 1024)
    sent_entries: list[list[dict]] = []
    client.meta.events.register("before-parameter-build.sqs.SendMessageBatch",
                                lambda params, **_: sent_entries.append(params["Entries"]))
    expect_send(stubber, [str(i) for i in range(10)])
    expect_send(stubber, [str(i) for i in range(10)])
    expect_send(stubber, ["0", "1", "2"])

    # One sender: the stubbed answers come in the order of the calls.
    sent = SqsPublisher(client, QUEUE_URL, senders=1).publish(message(str(n)) for n in range(23))

    assert sent == 23
    assert [len(batch) for batch in sent_entries] == [10, 10, 3]
    assert [e["MessageBody"] for e in sent_entries[2]] == [to_json(message(str(n))) for n in (20, 21, 22)]


def test_a_batch_never_exceeds_the_queue_size_limit(sqs):
    client, stubber = sqs
    one = len(to_json(message("1", orders=5)).encode())
    limit = 1024 * 4
    per_batch = limit // (one + 100)  # attributes add under 100 bytes per entry
    expect_limit(stubber, limit)
    sizes: list[int] = []
    client.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        lambda params, **_: sizes.append(sum(len(e["MessageBody"]) for e in params["Entries"])))
    for start in range(0, 10, per_batch):
        expect_send(stubber, [str(i) for i in range(min(per_batch, 10 - start))])

    assert SqsPublisher(client, QUEUE_URL).publish(message(str(n), orders=5) for n in range(10)) == 10
    assert len(sizes) > 1 and all(size <= limit for size in sizes)


def test_failed_entries_are_sent_again_and_only_they(sqs):
    client, stubber = sqs
    expect_limit(stubber, 1024 * 1024)
    retried: list[list[str]] = []
    client.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        lambda params, **_: retried.append([e["Id"] for e in params["Entries"]]))
    expect_send(stubber, ["0", "1", "2"], failed=[
        {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try again"}])
    expect_send(stubber, ["1"])

    sent = SqsPublisher(client, QUEUE_URL, sleep=lambda _: None).publish(message(str(n)) for n in range(3))

    assert sent == 3
    assert retried == [["0", "1", "2"], ["1"]]


def test_a_sender_fault_stops_with_the_queue_s_reason(sqs):
    client, stubber = sqs
    expect_limit(stubber, 1024 * 1024)
    expect_send(stubber, ["0"], failed=[
        {"Id": "0", "SenderFault": True, "Code": "InvalidMessageContents", "Message": "bad char"}])

    with pytest.raises(PublishError, match="InvalidMessageContents: bad char"):
        SqsPublisher(client, QUEUE_URL).publish([message("1")])


def test_entries_that_keep_failing_give_up_after_max_attempts(sqs):
    client, stubber = sqs
    expect_limit(stubber, 1024 * 1024)
    for _ in range(3):
        expect_send(stubber, ["0"], failed=[{"Id": "0", "SenderFault": False, "Code": "InternalError"}])

    with pytest.raises(PublishError, match="1 message\\(s\\) could not be sent .* after 3 attempts"):
        SqsPublisher(client, QUEUE_URL, max_attempts=3, sleep=lambda _: None).publish([message("1")])


def test_a_message_over_the_limit_is_offloaded_and_the_pointer_sent(sqs):
    client, stubber = sqs
    big = message("big", orders=100)
    body = to_json(big)
    expect_limit(stubber, 1024)
    entries: list[dict] = []
    client.meta.events.register("before-parameter-build.sqs.SendMessageBatch",
                                lambda params, **_: entries.extend(params["Entries"]))
    expect_send(stubber, ["0", "1"])  # the pointer is small: both fit in one batch
    payloads = RecordingPayloads()
    publisher = SqsPublisher(client, QUEUE_URL, payloads)

    assert publisher.publish([big, message("small")]) == 2

    assert publisher.offloaded == 1
    assert parse_pointer(entries[0]["MessageBody"]) == ("bucket", "payloads/b1/1/big.json")
    assert payloads.bodies["payloads/b1/1/big.json"] == body
    assert entries[0]["MessageAttributes"][SIZE_ATTRIBUTE] == {
        "DataType": "Number", "StringValue": str(len(body.encode()))}
    assert entries[0]["MessageAttributes"]["idempotency_key"]["StringValue"] == "b1/big/1"
    assert entries[1]["MessageBody"] == to_json(message("small"))


def test_without_a_payload_store_an_oversized_message_is_an_error_naming_the_customer(sqs):
    client, stubber = sqs
    expect_limit(stubber, 1024)

    with pytest.raises(MessageTooLargeError,
                       match="customer big of batch b1 in the top of the bucket is \\d+ bytes"):
        SqsPublisher(client, QUEUE_URL).publish([message("big", orders=100)])


def test_a_limit_too_small_even_for_the_pointer_says_to_raise_it(sqs):
    client, stubber = sqs
    expect_limit(stubber, 200)  # below what SQS allows; another emulator might report it

    with pytest.raises(MessageTooLargeError, match="too small even for a pointer.*raise the queue's limit"):
        SqsPublisher(client, QUEUE_URL, RecordingPayloads()).publish([message("big", orders=100)])
