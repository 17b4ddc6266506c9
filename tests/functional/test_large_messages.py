"""Messages larger than the queue accepts travel through S3, with a pointer on the queue."""
from __future__ import annotations

import json
from decimal import Decimal

from chalicelib.messages import from_json
from chalicelib.payloads import POINTER_CLASS, SIZE_ATTRIBUTE, read_body

SQS_LIMIT = 1024 * 1024


def _batch_files(batch: str, big_orders: int) -> dict[str, bytes]:
    """Customer 1 has ``big_orders`` orders of 0.01 with one item each; customer 2 has one order."""
    customers = "customer_id,customer_name\n1,Big Buyer\n2,Small Buyer\n"
    orders = ["order_id,customer_id,amount"]
    items = ["item_id,order_id"]
    for n in range(big_orders):
        orders.append(f"order-{n:06d},1,0.01")
        items.append(f"item-{n:06d},order-{n:06d}")
    orders.append("small-order,2,12.50")
    items.append("small-item,small-order")
    return {f"customers_{batch}.csv": customers.encode(),
            f"orders_{batch}.csv": ("\n".join(orders) + "\n").encode(),
            f"items_{batch}.csv": ("\n".join(items) + "\n").encode()}


def _raw_messages(sandbox) -> list[dict]:
    url = sandbox.resources.output_queue_url
    raw = []
    while batch := sandbox.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                               MessageAttributeNames=["All"]).get("Messages", []):
        for message in batch:
            raw.append(message)
            sandbox.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return raw


def _sent_batches(sandbox) -> list[list[dict]]:
    """Record the entries of every SendMessageBatch the app makes."""
    sent: list[list[dict]] = []
    sandbox.sqs.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        lambda params, **_: sent.append(params["Entries"]))
    return sent


def test_a_customer_with_20000_orders_arrives_through_an_s3_pointer(sandbox):
    for name, body in _batch_files("big", 20_000).items():
        outcome = sandbox.upload(name, body)

    assert outcome["published_revision"] == 1 and outcome["messages"] == 2
    raw = {m["MessageAttributes"]["customer_id"]["StringValue"]: m for m in _raw_messages(sandbox)}
    pointer = json.loads(raw["1"]["Body"])
    assert pointer[0] == POINTER_CLASS
    assert pointer[1] == {"s3BucketName": sandbox.settings.results_bucket,
                          "s3Key": "payloads/big/1/1.json"}
    body_text = read_body(raw["1"]["Body"], sandbox.s3)
    size = int(raw["1"]["MessageAttributes"][SIZE_ATTRIBUTE]["StringValue"])
    assert size == len(body_text.encode("utf-8")) > SQS_LIMIT
    big = from_json(body_text)
    assert big["name"] == "Big Buyer"
    assert big["total_amount_spent"] == Decimal("200.00")
    assert len(big["orders"]) == 20_000
    assert big["orders"][0] == {"id": "order-000000", "amount": Decimal("0.01"),
                                "item_ids": ["item-000000"]}
    # Small messages stay inline, and every message keeps its attributes for deduplication.
    assert from_json(raw["2"]["Body"])["total_amount_spent"] == Decimal("12.50")
    assert SIZE_ATTRIBUTE not in raw["2"]["MessageAttributes"]
    assert raw["1"]["MessageAttributes"]["idempotency_key"]["StringValue"] == "big/1/1"


def test_a_queue_with_a_low_size_limit_gets_pointers_and_small_sends(sandbox):
    limit = 2048  # SQS accepts 1,024 to 1,048,576
    sandbox.sqs.set_queue_attributes(QueueUrl=sandbox.resources.output_queue_url,
                                     Attributes={"MaximumMessageSize": str(limit)})
    sent = _sent_batches(sandbox)
    files = _batch_files("low", 40)  # customer 1's message is about 2.6 KB
    files["customers_low.csv"] = ("customer_id,customer_name\n1,Big Buyer\n2,Small Buyer\n"
                                  + "".join(f"{n},Customer {n}\n" for n in range(3, 40))).encode()

    for name, body in files.items():
        sandbox.upload(name, body)

    messages = sandbox.receive_all()
    assert len(messages) == 39
    assert {m["id"]: m["total_amount_spent"] for m in messages}["1"] == Decimal("0.40")
    pointers = [e for batch in sent for e in batch if e["MessageBody"].startswith(f'["{POINTER_CLASS}')]
    assert [e["MessageAttributes"]["customer_id"]["StringValue"] for e in pointers] == ["1"]
    for batch in sent:
        assert len(batch) <= 10
        assert sum(len(e["MessageBody"].encode()) for e in batch) <= limit


def test_a_re_published_revision_gets_its_own_payload_object(sandbox):
    sandbox.sqs.set_queue_attributes(QueueUrl=sandbox.resources.output_queue_url,
                                     Attributes={"MaximumMessageSize": "1024"})
    files = _batch_files("again", 30)  # customer 1's message is about 2 KB
    for name, body in files.items():
        sandbox.upload(name, body)
    sandbox.receive_all()
    changed = files["customers_again.csv"].replace(b"Big Buyer", b"Big Buyer Ltd")

    outcome = sandbox.upload("customers_again.csv", changed)
    sandbox.deliver("customers_again.csv")  # a duplicate delivery publishes nothing more

    assert outcome["published_revision"] == 2
    [big] = [m for m in sandbox.receive_all() if m["id"] == "1"]
    assert big["name"] == "Big Buyer Ltd" and big["revision"] == 2
    keys = [o["Key"] for o in sandbox.s3.list_objects_v2(
        Bucket=sandbox.settings.results_bucket, Prefix="payloads/again/").get("Contents", [])]
    assert keys == ["payloads/again/1/1.json", "payloads/again/2/1.json"]
