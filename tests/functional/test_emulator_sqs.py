"""The embedded emulator's SQS: faster calls that answer as moto's own, and moto's races between
threads and its visibility limit mended."""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends

from scripts.sandbox.emulator.sqs import delete_message_batch

MOTO_ACCOUNT = "123456789012"


@contextmanager
def switching_often():
    """Threads switch every microsecond, as in a busy emulator."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def run(deleter) -> tuple[list, list, list[str]]:
    """Receive 5 of 8 messages, delete a mix of handles; what moto answers and what is left."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for n in range(8):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5)["Messages"]
        handles = [m["ReceiptHandle"] for m in received]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handles[0])  # deleted already
        backend = sqs_backends[MOTO_ACCOUNT]["us-east-1"]
        receipts = [{"Id": "again", "ReceiptHandle": handles[0]},
                    {"Id": "a", "ReceiptHandle": handles[1]},
                    {"Id": "b", "ReceiptHandle": handles[2]},
                    {"Id": "bogus", "ReceiptHandle": "not-a-handle"},
                    {"Id": "c", "ReceiptHandle": handles[4]}]
        success, errors = deleter(backend, "q", receipts)
        left = sorted(m.body for m in backend.get_queue("q")._messages)
        return success, errors, left


def test_one_pass_deletes_answer_and_leave_the_queue_as_moto_does():
    theirs = run(SQSBackend.delete_message_batch)
    ours = run(delete_message_batch)

    assert ours == theirs
    success, errors, left = ours
    assert success == ["again", "a", "b", "c"]
    assert [(e["Id"], e["Code"], e["SenderFault"]) for e in errors] == [
        ("bogus", "ReceiptHandleIsInvalid", True)]
    assert len(left) == 4  # 8 sent, 4 deleted


@pytest.mark.parametrize("count", [1, 10])
def test_every_deleted_message_is_gone_and_stays_deleted(count):
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for n in range(count):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        backend = sqs_backends[MOTO_ACCOUNT]["us-east-1"]
        receipts = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)]

        assert delete_message_batch(backend, "q", receipts) == ([str(n) for n in range(count)], [])
        assert backend.get_queue("q")._messages == []
        assert delete_message_batch(backend, "q", receipts)[1] == []  # a repeat is no error


@pytest.mark.parametrize("age_seconds, valid", [(0, True), (59, True), (61, False)])
def test_the_retention_check_answers_as_moto_does(age_seconds, valid):
    from moto.core.utils import unix_time_millis

    from scripts.sandbox.emulator.sqs import is_message_valid_based_on_retention_period
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="m")
        backend = sqs_backends[MOTO_ACCOUNT]["us-east-1"]
        [message] = backend.get_queue("q")._messages
        message.sent_timestamp = int(unix_time_millis()) - age_seconds * 1000

        assert is_message_valid_based_on_retention_period(backend, "q", message) is valid
        assert SQSBackend.is_message_valid_based_on_retention_period(backend, "q", message) is valid


def restore_moto_after_test(monkeypatch) -> None:
    for name in ("messages", "pending_message_groups", "approximate_number_of_messages",
                 "approximate_number_of_messages_delayed",
                 "approximate_number_of_messages_not_visible"):
        monkeypatch.setattr(Queue, name, getattr(Queue, name))
    for name in ("change_message_visibility", "delete_message_batch",
                 "is_message_valid_based_on_retention_period", "receive_message", "send_message",
                 "send_message_batch"):
        monkeypatch.setattr(SQSBackend, name, getattr(SQSBackend, name))
    monkeypatch.setattr(Queue, "delete_message", Queue.delete_message)
    for name in ("__init__", "mark_received"):
        monkeypatch.setattr(Message, name, getattr(Message, name))


@pytest.fixture
def sqs_fixes(monkeypatch) -> None:
    """The emulator's SQS fixes, installed for one test and taken out after it."""
    from scripts.sandbox import emulator
    restore_moto_after_test(monkeypatch)
    emulator.install_sqs_fixes()


class CountedPasses(list):
    """A queue's message list that counts the passes made over it."""
    passes = 0

    def __iter__(self):
        CountedPasses.passes += 1
        return super().__iter__()


def test_sending_does_not_pass_over_the_queue_yet_the_counts_stay_exact(sqs_fixes):
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": f"m{n}"} for n in range(10)])
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=60)
        queue = sqs_backends[MOTO_ACCOUNT]["us-east-1"].get_queue("q")
        queue._messages = CountedPasses(queue._messages)
        CountedPasses.passes = 0

        sqs.send_message(QueueUrl=url, MessageBody="one more")
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": f"b{n}"} for n in range(10)])
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)

        assert CountedPasses.passes == 0  # moto's own: 3 passes per read of the queue's attributes
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"],
                counts["ApproximateNumberOfMessagesDelayed"]) == ("18", "3", "1")


def test_a_message_with_a_character_sqs_refuses_is_refused_and_a_batch_s_other_entries_go(sqs_fixes):
    # What passes the emulator must pass SQS: it takes only XML 1.0's characters.
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        with pytest.raises(sqs.exceptions.ClientError, match="InvalidMessageContents") as refused:
            sqs.send_message(QueueUrl=url, MessageBody='{"name": "Non\uffffchar"}')
        assert "Invalid binary character '#xFFFF' was found in the message body" in str(refused.value)
        with pytest.raises(sqs.exceptions.ClientError, match="InvalidMessageContents"):
            sqs.send_message(QueueUrl=url, MessageBody="ok", MessageAttributes={
                "folder": {"DataType": "String", "StringValue": "a\x01b"}})

        answer = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "fine", "MessageBody": "tab\tnewline\n\U0001F600 and \ud7ff"},
            {"Id": "bad", "MessageBody": "nul\x00"}])

        assert [e["Id"] for e in answer["Successful"]] == ["fine"]
        [failed] = answer["Failed"]
        assert (failed["Id"], failed["Code"], failed["SenderFault"]) == (
            "bad", "InvalidMessageContents", True)
        assert "'#x0'" in failed["Message"]
        [kept] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert kept["Body"].startswith("tab\t")


def test_a_fifo_queue_still_drops_a_content_duplicate(sqs_fixes):
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q.fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        for _ in range(2):
            sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
        with pytest.raises(sqs.exceptions.ClientError, match="MessageGroupId"):
            sqs.send_message(QueueUrl=url, MessageBody="no group")  # validation still reads the attribute

        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                                        )["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_the_one_clock_counts_and_visible_messages_are_moto_s(monkeypatch):
    from scripts.sandbox import emulator
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for n in range(6):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
        queue = sqs_backends[MOTO_ACCOUNT]["us-east-1"].get_queue("q")

        def seen():
            return (sorted(m.body for m in queue.messages), queue.approximate_number_of_messages,
                    queue.approximate_number_of_messages_delayed,
                    queue.approximate_number_of_messages_not_visible)

        theirs = seen()
        for name in ("messages", "approximate_number_of_messages",
                     "approximate_number_of_messages_delayed",
                     "approximate_number_of_messages_not_visible"):
            monkeypatch.setattr(type(queue), name, getattr(type(queue), name))  # restored after
        restore_moto_after_test(monkeypatch)
        emulator.install_sqs_fixes()
        ours = seen()

    assert ours == theirs
    assert theirs[1:] == (4, 1, 2)  # 4 visible; 1 delayed; 2 in flight


def test_deletes_racing_sends_and_each_other_lose_nothing_and_bring_nothing_back(sqs_fixes):
    import traceback

    with switching_often(), mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for _ in range(0, 3000, 10):  # a long queue, so each pass over it takes a while
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "MessageBody": "later", "DelaySeconds": 900} for n in range(10)])
        sent = [f"m{n}" for n in range(400)]
        read: list[str] = []
        sending = threading.Event()
        sending.set()

        def send() -> None:
            for start in range(0, len(sent), 10):
                sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(n), "MessageBody": body} for n, body in enumerate(sent[start:start + 10])])
            sending.clear()

        errors: list[str] = []

        def consume() -> None:
            try:
                take()
            except BaseException:  # noqa: BLE001 - any failure is asserted on below, in the test's thread
                errors.append(traceback.format_exc())  # with where it came from

        def take() -> None:
            while True:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                               VisibilityTimeout=900).get("Messages", [])
                if not messages:
                    if not sending.is_set():
                        return
                    continue
                read.extend(m["Body"] for m in messages)
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])

        threads = [threading.Thread(target=send)] + [threading.Thread(target=consume) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    assert errors == []
    assert set(read) == set(sent)  # none lost (a standard queue may deliver one twice)
    assert (left["ApproximateNumberOfMessages"], left["ApproximateNumberOfMessagesNotVisible"],
            left["ApproximateNumberOfMessagesDelayed"]) == ("0", "0", "3000")  # none brought back


def test_a_batch_s_messages_are_whole_when_they_enter_the_queue(sqs_fixes, monkeypatch):
    # A ReceiveMessage in another thread deep-copies a message the moment it is
    # in the queue; an attribute added after that changes the size of the dict
    # the copy iterates ("dictionary changed size during iteration").
    attributes_on_entry: dict[str, set[str]] = {}
    add_message = Queue.add_message

    def recording_add_message(queue, message) -> None:
        add_message(queue, message)
        attributes_on_entry[message.body] = set(vars(message))

    monkeypatch.setattr(Queue, "add_message", recording_add_message)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sent = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": f"e{n}", "MessageBody": f"m{n}"} for n in range(3)])
        queue = sqs_backends[MOTO_ACCOUNT]["us-east-1"].get_queue("q")
        attributes_now = {m.body: set(vars(m)) for m in queue._messages}

    assert sorted(entry["Id"] for entry in sent["Successful"]) == ["e0", "e1", "e2"]
    assert attributes_now == attributes_on_entry


def test_the_groups_in_flight_are_moto_s(monkeypatch):
    from scripts.sandbox import emulator
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q.fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        for group in ("a", "b", "c"):
            sqs.send_message(QueueUrl=url, MessageBody=f"in {group}", MessageGroupId=group)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
        queue = sqs_backends[MOTO_ACCOUNT]["us-east-1"].get_queue("q.fifo")
        theirs = queue.pending_message_groups
        restore_moto_after_test(monkeypatch)
        emulator.install_sqs_fixes()
        ours = queue.pending_message_groups

    assert ours == theirs
    assert len(ours) == 2  # two groups' messages received, the third's waiting


def test_single_deletes_racing_each_other_leave_nothing_in_flight(sqs_fixes):
    # Runner threads delete the events they handled one DeleteMessage at a
    # time; a delete undone by another would be handed out again later.

    with switching_often():
        backend = SQSBackend("us-east-1", MOTO_ACCOUNT)
        queue = backend.create_queue("events")
        for n in range(2000):
            backend.send_message("events", f"m{n}")
        handles = []
        while received := backend.receive_message("events", 10, 0, 900):
            handles += [m.receipt_handle for m in received]
        threads = [threading.Thread(
            target=lambda part=part: [backend.delete_message("events", h) for h in part])
            for part in (handles[0::2], handles[1::2])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(handles) == 2000
    assert queue._messages == []


def test_a_message_sent_over_12_hours_ago_can_be_hidden_and_released_after_its_receipt(sqs_fixes):
    # A dead-letter record from yesterday, which `make replay` receives, keeps
    # hidden while it replays it and releases if it cannot.
    from botocore.exceptions import ClientError

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="record")
        [message] = sqs_backends[MOTO_ACCOUNT]["us-east-1"].get_queue("dlq")._messages
        message.sent_timestamp -= 13 * 3600 * 1000
        [received] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=900)["Messages"]
        handle = received["ReceiptHandle"]

        extended = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "0", "ReceiptHandle": handle, "VisibilityTimeout": 900}])
        message.received_at -= 3600 * 1000  # received an hour ago: 11.5 more hours is past 12 in all
        with pytest.raises(ClientError, match="beyond the limit"):
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=41400)
        hidden = sqs.receive_message(QueueUrl=url).get("Messages", [])
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        released = sqs.receive_message(QueueUrl=url).get("Messages", [])

    assert extended["Successful"] == [{"Id": "0"}] and extended.get("Failed", []) == []
    assert hidden == []
    assert [m["Body"] for m in released] == ["record"]


def test_receivers_at_once_move_each_message_to_the_dead_letter_queue_once(sqs_fixes):
    # The output queue redrives to the dead-letter queue, and its consumers
    # receive on several threads (make tail CONSUME=1, the bench's readers).
    # A second receive comes in while the first is moving its messages.
    import json

    with mock_aws():
        backend = sqs_backends[MOTO_ACCOUNT]["us-east-1"]
        dead_letters = backend.create_queue("dlq")
        backend.create_queue("q", RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": dead_letters.queue_arn, "maxReceiveCount": 1}))
        for n in range(5):
            backend.send_message("q", f"m{n}")
        backend.receive_message("q", 10, 0, 0)  # each received once, and visible again at once
        errors: list[str] = []

        def receive() -> None:
            try:
                backend.receive_message("q", 10, 0, 900)  # moves what it passes to the dead-letter queue
            except Exception as exc:  # noqa: BLE001 - any failure is asserted on below, in the test's thread
                errors.append(repr(exc))

        add_message = dead_letters.add_message
        second = threading.Thread(target=receive)

        def first_move_lets_a_second_receive_in(message) -> None:
            if not second.is_alive() and second.ident is None:
                second.start()
                second.join(1)  # with the queue's lock held, it waits for the first to finish
            add_message(message)

        dead_letters.add_message = first_move_lets_a_second_receive_in
        receive()
        second.join(10)
        moved = [m.body for m in dead_letters._messages]
        left = [m.body for m in backend.get_queue("q")._messages]

    assert errors == []
    assert sorted(moved) == [f"m{n}" for n in range(5)]  # each once
    assert left == []


def test_a_long_poll_lets_a_send_in_and_returns_its_message(sqs_fixes):
    import time

    with mock_aws():
        backend = sqs_backends[MOTO_ACCOUNT]["us-east-1"]
        backend.create_queue("q")
        received = []
        polling = threading.Thread(target=lambda: received.extend(backend.receive_message("q", 10, 5, 30)))
        started = time.monotonic()
        polling.start()
        time.sleep(0.5)
        backend.send_message("q", "sent while it waited")
        polling.join(10)
        waited = time.monotonic() - started

    assert [m.body for m in received] == ["sent while it waited"]
    assert waited < 4  # it returned once the message came, not at the end of its 5 s
