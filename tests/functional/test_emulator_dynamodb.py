"""The embedded emulator applies each DynamoDB write whole, as DynamoDB does, although threads
serve requests."""
from __future__ import annotations

import sys
import threading

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from scripts.sandbox.emulator.dynamodb import one_at_a_time

NEW_ITEMS = 200


def partial_items_seen() -> int:
    """Create items by UpdateItem in one thread while another Queries; count items seen without
    their attributes."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "S"}])
        done = threading.Event()

        def write() -> None:
            for n in range(NEW_ITEMS):
                dynamodb.update_item(TableName="t", Key={"pk": {"S": "batch"}, "sk": {"S": f"file#{n}"}},
                                     UpdateExpression="SET object_key = :k, etag = :e ADD write_ids :w",
                                     ExpressionAttributeValues={":k": {"S": f"orders_{n}.csv"},
                                                                ":e": {"S": "etag"},
                                                                ":w": {"SS": ["w1"]}})
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        partial = 0
        while not done.is_set():
            items = dynamodb.query(TableName="t", KeyConditionExpression="pk = :p",
                                   ExpressionAttributeValues={":p": {"S": "batch"}})["Items"]
            partial += sum(1 for item in items if "object_key" not in item)
        writer.join()
        return partial


@pytest.fixture
def frequent_thread_switches():
    """Let the interpreter switch threads often, so a window between two steps of a write is met
    when it exists."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_a_query_never_sees_an_item_that_an_update_is_still_creating(monkeypatch, frequent_thread_switches):
    monkeypatch.setattr(DynamoHandler, "call_action",
                        one_at_a_time(DynamoHandler.call_action, threading.Lock()))

    assert partial_items_seen() == 0
