"""How the runner takes events: one request id per event, one invocation of an event at a time."""
from __future__ import annotations

import json
from pathlib import Path

from scripts.sandbox.notifications import request_id_for
from scripts.sandbox.visibility import VisibilityKeeper, hand_back_left_over


class Queue:
    """What the keeper asks of SQS, answered and recorded."""

    def __init__(self) -> None:
        self.visibility_changes: list[tuple[str, int]] = []

    def change_message_visibility_batch(self, QueueUrl, Entries):
        self.visibility_changes += [(e["ReceiptHandle"], e["VisibilityTimeout"]) for e in Entries]
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_every_attempt_of_an_event_has_one_request_id_and_another_event_another():
    first = request_id_for("message-1", 0, "on_csv_uploaded")
    assert first == request_id_for("message-1", 0, "on_csv_uploaded")  # Lambda's retries keep it
    assert first != request_id_for("message-2", 0, "on_csv_uploaded")  # an S3 duplicate gets its own
    assert first != request_id_for("message-1", 1, "on_csv_uploaded")


def test_an_event_handed_out_again_while_it_is_held_is_not_taken_twice(tmp_path: Path):
    keeper = VisibilityKeeper(Queue(), "url", 30, every_seconds=3600)
    message = {"MessageId": "m1", "ReceiptHandle": "first"}
    again = {"MessageId": "m1", "ReceiptHandle": "second"}  # SQS handed it out again
    try:
        assert keeper.hold(message)
        assert not keeper.hold(again)
        # SQS deletes a message by its newest receipt handle only.
        assert keeper.receipt_handle(message) == "second"
        keeper.release(message)
        assert keeper.hold(again)  # done with: a later delivery is taken again
    finally:
        keeper.close()


def test_the_events_a_stopped_runner_held_are_handed_back_by_the_next_one(tmp_path: Path):
    held_file = tmp_path / "events-held.json"
    stopped = VisibilityKeeper(Queue(), "url", 30, every_seconds=3600, held_file=held_file)
    stopped.hold({"MessageId": "m1", "ReceiptHandle": "h1"})
    stopped.hold({"MessageId": "m2", "ReceiptHandle": "h2"})
    stopped.release({"MessageId": "m2", "ReceiptHandle": "h2"})  # done and deleted
    assert json.loads(held_file.read_text()) == {"m1": "h1"}  # then the runner was killed
    stopped.close()

    queue = Queue()
    assert hand_back_left_over(queue, "url", held_file) == 1

    assert queue.visibility_changes == [("h1", 0)]  # visible again at once
    assert not held_file.exists()
    assert hand_back_left_over(queue, "url", held_file) == 0
