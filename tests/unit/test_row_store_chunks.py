"""RowStore.write_rows: chunk items, BatchWriteItem groups, UnprocessedItems retries, against Stubber."""
from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from chalicelib.errors import PipelineError
from chalicelib.item_sizes import item_size, write_units
from chalicelib.model import Customer, Order
from chalicelib.row_chunks import decode_chunk
from chalicelib.row_store import RowStore, WriteProgress

TABLE = "batches"
NOW = 1_800_000_000


@pytest.fixture
def dynamodb(aws_credentials):
    client = boto3.client("dynamodb", region_name="us-east-1")
    sent: list[list[dict]] = []  # the requests of each BatchWriteItem call, in call order
    client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem",
                                lambda params, **_: sent.append(params["RequestItems"][TABLE]))
    with Stubber(client) as stubber:
        yield client, stubber, sent
        stubber.assert_no_pending_responses()


SMALL_CHUNK_BYTES = 40  # about two order rows a chunk


def store(client, sleeps: list[float] | None = None, **kwargs) -> RowStore:
    # One writer thread: Stubber answers calls in the order they come, so keep that order fixed.
    recorded = sleeps if sleeps is not None else []
    return RowStore(client, TABLE, writers=1, sleep=recorded.append, clock=lambda: NOW, **kwargs)


def expect_write(stubber: Stubber, unprocessed: list[dict] | None = None) -> None:
    response = {"UnprocessedItems": {TABLE: unprocessed}} if unprocessed else {"UnprocessedItems": {}}
    stubber.add_response("batch_write_item", response, {"RequestItems": {TABLE: ANY}})


def orders(count: int) -> list[Order]:
    return [Order(str(1000 + n), str(n % 7), Decimal("250.00")) for n in range(count)]


def items_of(sent: list[list[dict]]) -> list[dict]:
    return [r["PutRequest"]["Item"] for group in sent for r in group]


def test_a_small_file_is_one_chunk_item_under_slot_0_with_its_rows_compressed(dynamodb):
    client, stubber, sent = dynamodb
    expect_write(stubber)
    row_store = store(client, retention_days=30)

    written = row_store.write_rows("f/b1", "orders", "w1", orders(3))

    [item] = items_of(sent)
    assert item["pk"] == {"S": "rows#f/b1#orders#w1#0"} and item["sk"] == {"S": "000000"}
    assert item["row_count"] == {"N": "3"}
    assert decode_chunk("orders", item["data"]["B"]) == orders(3)
    # The TTL: the retention after the write.
    assert item["expires_at"] == {"N": str(NOW + 30 * 86_400)}
    assert (written.rows, written.chunks, written.expires_at) == (3, 1, NOW + 30 * 86_400)
    assert (row_store.items_written, row_store.write_units) == (1, 1)


def test_a_file_with_no_rows_writes_nothing(dynamodb):
    client, _, sent = dynamodb

    written = store(client).write_rows("b1", "customers", "w1", [])

    assert (written.rows, written.chunks, sent) == (0, 0, [])


@pytest.mark.parametrize("rows, groups", [(2, [1]), (50, [25]), (52, [25, 1]), (120, [25, 25, 10])])
def test_chunks_go_out_in_groups_of_at_most_25(dynamodb, rows, groups):
    client, stubber, sent = dynamodb
    for _ in groups:
        expect_write(stubber)
    row_store = store(client, shards=8, chunk_bytes=SMALL_CHUNK_BYTES)

    written = row_store.write_rows("b1", "orders", "w1", orders(rows))

    assert [len(group) for group in sent] == groups
    chunks = items_of(sent)
    # Numbered in file order, chunk n under slot n mod 8; the rows all there, in order.
    assert [c["sk"]["S"] for c in chunks] == [f"{n:06d}" for n in range(len(chunks))]
    assert [c["pk"]["S"] for c in chunks] == [f"rows#b1#orders#w1#{n % 8}" for n in range(len(chunks))]
    assert [r for c in chunks for r in decode_chunk("orders", c["data"]["B"])] == orders(rows)
    assert (written.rows, written.chunks) == (rows, len(chunks))
    assert row_store.items_written == len(chunks)
    assert row_store.write_units == sum(write_units(item_size(c)) for c in chunks)


def test_large_chunks_cost_a_write_unit_per_started_kilobyte(dynamodb):
    client, stubber, sent = dynamodb
    expect_write(stubber)
    # Names that do not compress: random-looking text, about 300 KB of it.
    import random
    rng = random.Random(7)
    rows = [Customer(str(n), "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(150)))
            for n in range(2000)]
    row_store = store(client)

    written = row_store.write_rows("b1", "customers", "w1", rows)

    chunks = items_of(sent)
    assert written.chunks == len(chunks) == 2
    sizes = [item_size(c) for c in chunks]
    assert all(size < 400 * 1024 for size in sizes)  # DynamoDB's item limit
    assert row_store.write_units == sum(-(-size // 1024) for size in sizes) > 100


def test_unprocessed_chunks_are_sent_again_until_none_are_left(dynamodb):
    client, stubber, sent = dynamodb
    expect_write(stubber, unprocessed=[{"PutRequest": {"Item": {"pk": {"S": "x"}, "sk": {"S": s}}}}
                                       for s in ("000001", "000002", "000003")])
    expect_write(stubber, unprocessed=[{"PutRequest": {"Item": {"pk": {"S": "x"}, "sk": {"S": "000002"}}}}])
    expect_write(stubber)
    sleeps: list[float] = []
    row_store = store(client, sleeps, chunk_bytes=SMALL_CHUNK_BYTES)

    assert row_store.write_rows("b1", "orders", "w1", orders(10)).chunks == 5

    assert [[r["PutRequest"]["Item"]["sk"]["S"] for r in group] for group in sent] == [
        ["000000", "000001", "000002", "000003", "000004"], ["000001", "000002", "000003"], ["000002"]]
    assert len(sleeps) == 2  # a back-off before each re-send


def test_gives_up_after_max_attempts_with_what_was_left_and_where(dynamodb):
    client, stubber, sent = dynamodb
    left = [{"PutRequest": {"Item": {"pk": {"S": "x"}, "sk": {"S": "000000"}}}}]
    for _ in range(3):
        expect_write(stubber, unprocessed=left)
    sleeps: list[float] = []

    with pytest.raises(PipelineError) as caught:
        store(client, sleeps, max_attempts=3).write_rows("b1", "orders", "w1", orders(2))

    assert str(caught.value) == f"DynamoDB left 1 write(s) unprocessed in table {TABLE} after 3 attempts"
    assert len(sent) == 3 and len(sleeps) == 2  # no back-off after the last attempt


def test_an_aws_error_reaches_the_caller(dynamodb):
    # Throttling is botocore's to retry (its retry config); what it gives up on must not be swallowed.
    client, stubber, _ = dynamodb
    stubber.add_client_error("batch_write_item", "ProvisionedThroughputExceededException", "slow down")

    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        store(client).write_rows("b1", "orders", "w1", orders(3))


def test_a_bad_row_stops_the_writes_and_progress_says_which_chunks_may_exist(aws_credentials):
    client = boto3.client("dynamodb", region_name="us-east-1")
    sent: list[list[dict]] = []
    client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem",
                                lambda params, **_: sent.append(params["RequestItems"][TABLE]))

    def rows_then_a_problem():
        yield from orders(5000)  # rows are encoded 4,096 at a time: ~78 chunks are cut first
        raise ValueError("line 5001: a bad row")

    progress = WriteProgress()
    with Stubber(client) as stubber:
        for _ in range(3):
            expect_write(stubber)
        with pytest.raises(ValueError, match="line 5001"):
            # Chunks of about 50 order rows.
            store(client, chunk_bytes=1000).write_rows("b1", "orders", "w1", rows_then_a_problem(),
                                                       progress)

    # Groups not yet started when the problem came are cancelled, and the last
    # chunks cut were never sent: deleting the partial write needs an upper
    # bound, every chunk cut.
    assert 1 <= len(sent) <= 3 and all(len(group) == 25 for group in sent)
    assert progress.chunks_sent > 25 * len(sent)
