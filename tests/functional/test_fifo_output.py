"""With a FIFO output queue, SQS itself drops repeated messages of a revision."""
from __future__ import annotations

import dataclasses

import pytest

from chalicelib import aws, wiring
from chalicelib.errors import ConfigurationError, PublishError
from chalicelib.messages import from_json
from chalicelib.publisher import SqsPublisher
from scripts.stage.provision import provision

CUSTOMERS = 25  # three SendMessageBatch calls


@pytest.fixture
def fifo(sandbox):
    settings = dataclasses.replace(sandbox.settings, output_queue_name="customers.fifo",
                                   dead_letter_queue_name="dead-letter.fifo")
    return settings, provision(settings, sandbox.s3, aws.client("dynamodb"), sandbox.sqs)


def test_a_retry_after_a_partial_publication_repeats_nothing_to_consumers(sandbox, fifo, monkeypatch):
    settings, resources = fifo
    files = {
        "customers": "customer_id,customer_name\n" + "".join(f"{i},C{i}\n" for i in range(CUSTOMERS)),
        "orders": "order_id,customer_id,amount\n" + "".join(f"{i},{i},1.00\n" for i in range(CUSTOMERS)),
        "items": "item_id,order_id\n" + "".join(f"{i},{i}\n" for i in range(CUSTOMERS)),
    }
    for kind, body in files.items():
        sandbox.s3.put_object(Bucket=settings.ingest_bucket, Key=f"{kind}_fifo.csv", Body=body.encode())
    pipeline = wiring.build_pipeline(settings, sandbox.s3, aws.client("dynamodb"), sandbox.sqs)
    pipeline.process_object(settings.ingest_bucket, "customers_fifo.csv")
    pipeline.process_object(settings.ingest_bucket, "orders_fifo.csv")
    real_send = SqsPublisher._send
    sends = []

    def crash_after_the_first_batch(self, entries, before_send):
        sends.append(len(entries))
        if len(sends) == 2:
            raise PublishError("the function timed out")
        return real_send(self, entries, before_send)

    monkeypatch.setattr(SqsPublisher, "_send", crash_after_the_first_batch)
    with pytest.raises(PublishError):
        pipeline.process_object(settings.ingest_bucket, "items_fifo.csv")
    monkeypatch.setattr(SqsPublisher, "_send", real_send)
    retried = pipeline.process_object(settings.ingest_bucket, "items_fifo.csv")

    assert retried.published_revision == 1 and retried.messages == CUSTOMERS
    bodies = []
    while messages := sandbox.sqs.receive_message(QueueUrl=resources.output_queue_url,
                                                  MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(from_json(message["Body"]))
            sandbox.sqs.delete_message(QueueUrl=resources.output_queue_url,
                                       ReceiptHandle=message["ReceiptHandle"])
    assert sorted(int(b["id"]) for b in bodies) == list(range(CUSTOMERS))  # each exactly once


def test_a_fifo_output_queue_needs_a_fifo_dead_letter_queue(sandbox):
    settings = dataclasses.replace(sandbox.settings, output_queue_name="customers.fifo")
    with pytest.raises(ConfigurationError, match="must both end in .fifo"):
        provision(settings, sandbox.s3, aws.client("dynamodb"), sandbox.sqs)
