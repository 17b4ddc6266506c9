"""The sandbox's tools take no message they do not own off the output queue.

Every ReceiveMessage counts toward the redrive policy's maxReceiveCount (5): a
tool that received another batch's messages, even to hand them straight back,
would after a few runs push them into the dead-letter queue before their
consumer read them. Here another batch's messages wait on the queue, as if its
consumer had not read them yet, while `make demo`, `make tail` and
`make upload` run against the same sandbox; the messages must stay where they
are, unread.
"""
from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest

from tests.conftest import DATA_DIR, SAMPLE_BATCH
from tests.e2e.conftest import RunningSandbox, free_port, plain_moto_server, run

pytestmark = pytest.mark.e2e

OTHER_BATCH, OTHER_FOLDER = "20261201", "partner-b"
DEMO_RUNS = 6  # more than the output queue's maxReceiveCount (5)
PEEK_PATH = "/_aws/sqs/messages"


def publish_other_batch(sandbox: RunningSandbox, count: int = 3) -> set[str]:
    """Messages of another batch, sent as the pipeline sends them; their consumer has not run."""
    env, sqs = sandbox.env, sandbox.client("sqs")
    ids = set()
    for n in range(1, count + 1):
        body = (f'{{"id": "{n}", "name": "Other Customer {n}", "total_amount_spent": 10.00, '
                f'"orders": [], "batch_id": "{OTHER_BATCH}", "folder": "{OTHER_FOLDER}", '
                f'"revision": 1}}')
        response = sqs.send_message(QueueUrl=env["OUTPUT_QUEUE_URL"], MessageBody=body, MessageAttributes={
            "batch_id": {"DataType": "String", "StringValue": OTHER_BATCH},
            "folder": {"DataType": "String", "StringValue": OTHER_FOLDER},
            "customer_id": {"DataType": "String", "StringValue": str(n)},
            "revision": {"DataType": "Number", "StringValue": "1"},
            "idempotency_key": {"DataType": "String", "StringValue": f"{OTHER_BATCH}/{n}/1"},
        })
        ids.add(response["MessageId"])
    return ids


def peek(env: dict[str, str], queue_url: str) -> dict[str, dict]:
    """The queue's messages by id, visible or in flight, read without receiving them."""
    url = f"{env['AWS_ENDPOINT_URL']}{PEEK_PATH}?" + urllib.parse.urlencode({"QueueUrl": queue_url})
    with urllib.request.urlopen(url, timeout=10) as response:
        return {m["MessageId"]: m for m in json.load(response)["Messages"]}


def receive_counts(env: dict[str, str], ids: set[str]) -> dict[str, int]:
    """How often each of ``ids`` was received; -1 for one no longer on the output queue."""
    messages = peek(env, env["OUTPUT_QUEUE_URL"])
    return {i: int(messages[i]["Attributes"]["ApproximateReceiveCount"]) if i in messages else -1
            for i in ids}


def assert_untouched(env: dict[str, str], ids: set[str], after: str) -> None:
    counts = receive_counts(env, ids)
    assert counts == dict.fromkeys(ids, 0), (
        f"after {after}, the other batch's messages were received (count per message; -1 = no "
        f"longer on the output queue): {counts}")
    dead = set(peek(env, env["DEAD_LETTER_QUEUE_URL"])) & ids
    assert not dead, f"after {after}, {len(dead)} of the other batch's messages are dead-lettered"


@pytest.fixture(scope="module")
def other_batch(running_sandbox) -> set[str]:
    ids = publish_other_batch(running_sandbox)
    assert_untouched(running_sandbox.env, ids, "sending them")
    return ids


def test_make_demo_reads_only_its_own_batch(running_sandbox, other_batch):
    env = running_sandbox.env
    folders = []
    for n in range(1, DEMO_RUNS + 1):
        result = run(["make", "-s", "demo"], running_sandbox.base_env)

        assert_untouched(env, other_batch, f"`make demo` run {n}")
        for line in ("1     John Doe                  2      400.00",
                     "2     Jane Smith                1      300.00",
                     "3     Alice Johnson             2      200.00"):
            assert line in result.stdout
        assert "Summary: 3 files, 14 rows, 3 messages" in result.stdout
        assert "The 3 messages stay on the queue for its consumers; `make tail` shows them." \
            in result.stdout
        folders.extend(line.split()[-1].split("/")[3] for line in result.stdout.splitlines()
                       if line.strip().startswith("$ awslocal s3 cp") and "customers_" in line)

    # Each run used a folder of its own, and its messages are still there for the consumers.
    assert len(folders) == len(set(folders)) == DEMO_RUNS
    assert all(folder.startswith("demo-") for folder in folders)
    bodies = [json.loads(m["Body"]) for m in peek(env, env["OUTPUT_QUEUE_URL"]).values()]
    for folder in folders:
        mine = [b for b in bodies if b.get("folder") == folder and b["batch_id"] == SAMPLE_BATCH]
        assert sorted(b["id"] for b in mine) == ["1", "2", "3"], folder


def test_make_tail_once_leaves_every_message_where_it_is(running_sandbox, other_batch):
    env = running_sandbox.env
    before = peek(env, env["OUTPUT_QUEUE_URL"])

    result = run(["make", "-s", "tail", "ONCE=1"], running_sandbox.base_env)

    assert sum(OTHER_BATCH in line for line in result.stdout.splitlines()) >= len(other_batch)
    after = peek(env, env["OUTPUT_QUEUE_URL"])
    assert {i: m["Attributes"]["ApproximateReceiveCount"] for i, m in after.items()} == \
        {i: m["Attributes"]["ApproximateReceiveCount"] for i, m in before.items()}
    assert_untouched(env, other_batch, "`make tail ONCE=1`")


def test_make_upload_follows_its_batch_without_receiving(running_sandbox, other_batch, tmp_path):
    for kind in ("customers", "orders", "items"):
        (tmp_path / f"{kind}_upload-check.csv").write_bytes(
            (DATA_DIR / f"{kind}_{SAMPLE_BATCH}.csv").read_bytes())

    result = run(["make", "-s", "upload", f"DIR={tmp_path}"], running_sandbox.base_env)

    assert "upload-check: published revision 1, 3 messages" in result.stdout
    assert_untouched(running_sandbox.env, other_batch, "`make upload`")


# An emulator without the read-only peek endpoint (a plain moto_server): the tools
# that only look must refuse rather than receive.

@pytest.fixture(scope="module")
def sandbox_without_peek(tmp_path_factory):
    with plain_moto_server(tmp_path_factory.mktemp("moto")) as port:
        sandbox = RunningSandbox(tmp_path_factory.mktemp("external"), free_port())
        with sandbox.use_external(port).started():
            yield sandbox


def never_received(sandbox: RunningSandbox) -> bool:
    """Nothing is in flight, and the first receive (this one) is each message's first."""
    env, sqs = sandbox.env, sandbox.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=env["OUTPUT_QUEUE_URL"],
                                          AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    if attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] != "0":
        return False
    messages = sqs.receive_message(QueueUrl=env["OUTPUT_QUEUE_URL"], MaxNumberOfMessages=10,
                                   VisibilityTimeout=0,
                                   AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
    return bool(messages) and all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in messages)


def test_without_the_peek_endpoint_tail_and_demo_refuse_and_receive_nothing(sandbox_without_peek):
    publish_other_batch(sandbox_without_peek)

    tail = run(["make", "-s", "tail", "ONCE=1"], sandbox_without_peek.base_env, check=False)
    demo = run(["make", "-s", "demo"], sandbox_without_peek.base_env, check=False)

    for result in (tail, demo):
        assert result.returncode != 0
        assert f"no {PEEK_PATH} endpoint" in result.stderr
        assert "CONSUME=1" in result.stderr
    assert "Uploading" not in demo.stdout  # it refused before uploading anything
    assert never_received(sandbox_without_peek)


def test_tail_consume_says_it_takes_every_message_of_every_batch(sandbox_without_peek):
    env = sandbox_without_peek.env
    publish_other_batch(sandbox_without_peek)

    result = run(["make", "-s", "tail", "CONSUME=1", "ONCE=1"], sandbox_without_peek.base_env)

    assert "receives and deletes every message on the queue, of every batch" in result.stderr
    assert "Took (deleted)" in result.stderr
    sqs = sandbox_without_peek.client("sqs")
    assert sqs.receive_message(QueueUrl=env["OUTPUT_QUEUE_URL"]).get("Messages", []) == []
