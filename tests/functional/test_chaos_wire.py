"""Chaos on the wire: each injected failure reaches the SDK as the real one would, and is handled as it.

A moto server on a port of its own stands for AWS (the faults that let a
request land need a real HTTP endpoint); the clients are plain boto3 clients
with the chaos handler first on their ``before-send``, as it is in an
execution environment.
"""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from scripts.sandbox.chaos import wire
from scripts.sandbox.chaos.settings import Chaos
from tests.e2e.conftest import free_port

ATTEMPTS = 3


@pytest.fixture(scope="module")
def endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def client(endpoint, aws_credentials):
    made = []

    def make(service: str):
        built = boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                             config=Config(retries={"mode": "standard", "max_attempts": ATTEMPTS}))
        built.meta.events.register_first("before-send", wire.on_send)
        made.append(built)
        return built
    yield make
    wire.end()


@pytest.fixture
def no_backoff(monkeypatch):
    from types import SimpleNamespace

    import botocore.endpoint
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda seconds: None))


def chaos(**rates) -> None:
    wire.begin(Chaos({name.replace("_", "-"): rate for name, rate in rates.items()}, seed=1),
               "request-1", "upload@etag#1", attempt=1, final=True)


@pytest.mark.parametrize("service, call, code", [
    ("dynamodb", lambda c: c.list_tables(), "ThrottlingException"),
    ("sqs", lambda c: c.list_queues(), "ThrottlingException"),
    ("s3", lambda c: c.list_buckets(), "SlowDown"),
])
def test_a_throttled_call_is_retried_by_the_sdk_and_named_as_aws_names_it(client, no_backoff, capsys,
                                                                            service, call, code):
    chaos(throttle=1.0)
    with pytest.raises(ClientError) as raised:
        call(client(service))

    assert raised.value.response["Error"]["Code"] == code
    retries = raised.value.response["ResponseMetadata"]["RetryAttempts"]
    assert retries >= 1  # the SDK took it for throttling, and retried
    assert capsys.readouterr().out.count("CHAOS throttle:") == retries + 1


def test_a_500_is_retried_and_a_call_that_then_goes_through_succeeds(client, no_backoff, capsys):
    chaos(error=0.5)
    tables = client("dynamodb").list_tables()  # with seed 1, the first attempt fails, a retry passes

    assert tables["TableNames"] == [] and tables["ResponseMetadata"]["RetryAttempts"] >= 1
    assert "CHAOS error: dynamodb ListTables answered 500" in capsys.readouterr().out


def test_a_write_whose_answer_is_lost_lands_again_with_each_retry(client, no_backoff, capsys):
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="lost-answers")["QueueUrl"]
    chaos(lost_answer=1.0)
    with pytest.raises(Exception, match="Read timeout"):
        sqs.send_message(QueueUrl=url, MessageBody="once")  # every attempt lands, no answer comes
    wire.end()

    attempts = capsys.readouterr().out.count("CHAOS lost-answer: sqs SendMessage landed")
    waiting = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attempts > 1 and waiting["Attributes"]["ApproximateNumberOfMessages"] == str(attempts)


def test_a_partial_send_reports_the_entries_it_did_not_send_as_failed(client, capsys):
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="partial")["QueueUrl"]
    chaos(partial=1.0)
    answer = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(n), "MessageBody": f"message {n}"} for n in range(10)])
    wire.end()

    failed, sent = answer.get("Failed", []), answer.get("Successful", [])
    assert failed and len(failed) + len(sent) == 10
    assert all(f["SenderFault"] is False for f in failed)  # to be sent again, as AWS means it
    waiting = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert waiting["Attributes"]["ApproximateNumberOfMessages"] == str(len(sent))
    assert f"sent {len(sent)} of 10 messages" in capsys.readouterr().out


def test_a_partial_batch_write_leaves_the_rest_unprocessed(client):
    dynamodb = client("dynamodb")
    dynamodb.create_table(TableName="partial", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    chaos(partial=1.0)
    answer = dynamodb.batch_write_item(RequestItems={"partial": [
        {"PutRequest": {"Item": {"pk": {"S": str(n)}}}} for n in range(20)]})
    wire.end()

    unprocessed = answer["UnprocessedItems"]["partial"]
    stored = dynamodb.scan(TableName="partial")["Items"]
    assert unprocessed and len(unprocessed) + len(stored) == 20
    assert {json.dumps(u, sort_keys=True) for u in unprocessed}.isdisjoint(
        json.dumps({"PutRequest": {"Item": item}}, sort_keys=True) for item in stored)


def test_no_fault_is_injected_outside_an_invocation_or_with_chaos_off(client):
    wire.end()
    assert client("dynamodb").list_tables()["ResponseMetadata"]["RetryAttempts"] == 0
    wire.begin(Chaos.parse("off"), "request-1", "key", 1, False)
    assert client("dynamodb").list_tables()["ResponseMetadata"]["RetryAttempts"] == 0
