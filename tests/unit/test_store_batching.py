"""BatchStore.write_rows: BatchWriteItem groups, UnprocessedItems retries and shards, against Stubber."""
from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from chalicelib.errors import PipelineError
from chalicelib.model import Customer, Item, Order
from chalicelib.store import BatchStore, shard_of

TABLE = "batches"


@pytest.fixture
def dynamodb(aws_credentials):
    client = boto3.client("dynamodb", region_name="us-east-1")
    sent: list[list[dict]] = []  # the PutRequests of each BatchWriteItem call, in call order
    client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem",
                                lambda params, **_: sent.append(params["RequestItems"][TABLE]))
    with Stubber(client) as stubber:
        yield client, stubber, sent
        stubber.assert_no_pending_responses()


def store(client, sleeps: list[float] | None = None, **kwargs) -> BatchStore:
    # One writer thread: Stubber answers calls in the order they come, so keep that order fixed.
    recorded = sleeps if sleeps is not None else []
    return BatchStore(client, TABLE, writers=1, sleep=recorded.append, **kwargs)


def expect_write(stubber: Stubber, unprocessed: list[dict] | None = None) -> None:
    response = {"UnprocessedItems": {TABLE: unprocessed}} if unprocessed else {"UnprocessedItems": {}}
    stubber.add_response("batch_write_item", response, {"RequestItems": {TABLE: ANY}})


def orders(count: int) -> list[Order]:
    return [Order(str(1000 + n), str(n % 7), Decimal("250.00")) for n in range(count)]


def sort_keys(requests: list[dict]) -> list[str]:
    return [r["PutRequest"]["Item"]["sk"]["S"] for r in requests]


@pytest.mark.parametrize("rows, groups", [(0, []), (1, [1]), (25, [25]), (26, [25, 1]), (60, [25, 25, 10])])
def test_rows_go_out_in_groups_of_at_most_25(dynamodb, rows, groups):
    client, stubber, sent = dynamodb
    for _ in groups:
        expect_write(stubber)
    batch_store = store(client)

    assert batch_store.write_rows("b1", "orders", "etag1", orders(rows)) == rows

    assert [len(group) for group in sent] == groups
    assert [sk for group in sent for sk in sort_keys(group)] == [o.order_id for o in orders(rows)]
    assert batch_store.items_written == rows


@pytest.mark.parametrize("kind, row, attributes", [
    # The amount is text: a DynamoDB number would turn 250.00 into 250.
    ("orders", Order("1001", "1", Decimal("250.00")),
     {"sk": {"S": "1001"}, "customer_id": {"S": "1"}, "amount": {"S": "250.00"}}),
    ("customers", Customer("1", "John Doe"), {"sk": {"S": "1"}, "name": {"S": "John Doe"}}),
    ("items", Item("501", "1001"), {"sk": {"S": "501"}, "order_id": {"S": "1001"}}),
])
def test_each_row_is_one_item_keyed_by_batch_kind_version_shard_and_id(dynamodb, kind, row, attributes):
    client, stubber, sent = dynamodb
    expect_write(stubber)

    store(client, shards=8).write_rows("b1", kind, "etag1", [row])

    shard = shard_of(attributes["sk"]["S"], 8)
    assert sent == [[{"PutRequest": {"Item": {**attributes, "pk": {"S": f"rows#b1#{kind}#etag1#{shard}"}}}}]]


def test_unprocessed_items_are_sent_again_until_none_are_left(dynamodb):
    client, stubber, sent = dynamodb
    rows = orders(5)
    first = [{"PutRequest": {"Item": {"pk": {"S": "x"}, "sk": {"S": o.order_id}}}} for o in rows]
    expect_write(stubber, unprocessed=first[1:4])   # 3 of 5 left over
    expect_write(stubber, unprocessed=first[2:3])   # then 1 of those
    expect_write(stubber)
    sleeps: list[float] = []
    batch_store = store(client, sleeps)

    assert batch_store.write_rows("b1", "orders", "etag1", rows) == 5

    assert [sort_keys(group) for group in sent] == [["1000", "1001", "1002", "1003", "1004"],
                                                    ["1001", "1002", "1003"], ["1002"]]
    assert len(sleeps) == 2  # a back-off before each re-send
    assert batch_store.items_written == 5


def test_gives_up_after_max_attempts_with_what_was_left_and_where(dynamodb):
    client, stubber, sent = dynamodb
    left = [{"PutRequest": {"Item": {"pk": {"S": "x"}, "sk": {"S": s}}}} for s in ("1000", "1001")]
    for _ in range(3):
        expect_write(stubber, unprocessed=left)

    with pytest.raises(PipelineError) as caught:
        store(client, max_attempts=3).write_rows("b1", "orders", "etag1", orders(2))

    assert str(caught.value) == f"DynamoDB left 2 write(s) unprocessed in table {TABLE} after 3 attempts"
    assert len(sent) == 3


def test_no_back_off_after_the_last_attempt(dynamodb):
    client, stubber, _ = dynamodb
    left = [{"PutRequest": {"Item": {"pk": {"S": "x"}, "sk": {"S": "1000"}}}}]
    for _ in range(3):
        expect_write(stubber, unprocessed=left)
    sleeps: list[float] = []

    with pytest.raises(PipelineError):
        store(client, sleeps, max_attempts=3).write_rows("b1", "orders", "etag1", orders(1))

    assert len(sleeps) == 2


def test_an_aws_error_reaches_the_caller(dynamodb):
    # Throttling is botocore's to retry (its retry config); what it gives up on must not be swallowed.
    client, stubber, _ = dynamodb
    stubber.add_client_error("batch_write_item", "ProvisionedThroughputExceededException", "slow down")

    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        store(client).write_rows("b1", "orders", "etag1", orders(3))


def test_rows_are_spread_over_every_shard(dynamodb):
    client, stubber, sent = dynamodb
    for _ in range(8):
        expect_write(stubber)

    store(client, shards=8).write_rows("b1", "orders", "v", orders(200))

    pks = [r["PutRequest"]["Item"]["pk"]["S"] for group in sent for r in group]
    assert set(pks) == {f"rows#b1#orders#v#{shard}" for shard in range(8)}


@pytest.mark.parametrize("row_id, shards, shard", [
    # Pinned: rows are stored under these keys, so the function must not change between releases
    # or processes (Python's hash() would: it is salted per process).
    ("1", 8, 7), ("1001", 8, 1), ("501", 8, 0), ("customer-42", 8, 5), ("日本", 8, 4),
    ("1001", 16, 1), ("1001", 3, 2), ("anything", 1, 0),
])
def test_shard_of_is_stable(row_id, shards, shard):
    assert shard_of(row_id, shards) == shard


@pytest.mark.parametrize("shards", [1, 2, 7, 8, 64])
def test_shard_of_is_always_in_range(shards):
    assert {shard_of(str(n), shards) for n in range(2000)} == set(range(shards))


def test_a_repeated_id_starts_a_new_group_as_dynamodb_refuses_one_key_twice_in_a_group(dynamodb):
    # A repeat of an id read long before is only found at the end of the file,
    # so its rows reach the store; the file is rejected afterwards.
    client, stubber, sent = dynamodb
    rows = [Item("1", "o"), Item("2", "o"), Item("2", "o"), Item("3", "o")]
    expect_write(stubber)
    expect_write(stubber)

    assert store(client).write_rows("b1", "items", "etag1", rows) == 4

    assert [sort_keys(group) for group in sent] == [["1", "2"], ["2", "3"]]
