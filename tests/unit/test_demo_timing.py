"""`make demo`'s summary: how soon the batch's messages came, from the queue's own send times."""
from __future__ import annotations

import json

import pytest

from scripts.demo import RunnerLog, collect_messages, delay_after_uploads

FOLDER, BATCH = "demo-20240101-000000-abcd", "20230828"
UPLOADED_AT = 1_700_000_000.0  # the wall clock when the last upload command returned
MS = 1_700_000_000_000         # the same moment as a SentTimestamp


def queued(customer_id: str, sent_ms: int | None, folder: str = FOLDER, revision: int = 1) -> dict:
    """A customer message as the peek endpoint lists it."""
    body = {"id": customer_id, "name": f"Customer {customer_id}", "folder": folder, "batch_id": BATCH,
            "revision": revision, "orders": [], "total_amount_spent": 0}
    return {"MessageId": f"{folder}-{customer_id}-{revision}", "Body": json.dumps(body),
            "Attributes": {} if sent_ms is None else {"SentTimestamp": str(sent_ms)},
            "MessageAttributes": {"folder": {"DataType": "String", "StringValue": folder},
                                  "batch_id": {"DataType": "String", "StringValue": BATCH}}}


def collect(queue: list[dict], tmp_path, expected: int = 2):
    return collect_messages(lambda: queue, None, FOLDER, BATCH, expected, timeout=5,
                            log=RunnerLog(tmp_path / "runner.log"))


def test_messages_already_on_the_queue_when_first_looked_at_are_timed_by_their_send_times(tmp_path):
    # All on the queue at the demo's first look: what the demo used to print as
    # "first message 0.00s after the uploads", the time until it looked.
    queue = [queued("1", MS + 840), queued("2", MS + 1_130), queued("9", MS - 5_000, folder="other")]

    messages, sent = collect(queue, tmp_path)

    assert sorted(m["id"] for m in messages) == ["1", "2"]
    assert delay_after_uploads(sent, UPLOADED_AT) == (
        "the first message was sent 840 ms after the last upload returned, the last 1.1 s after")


def test_a_later_revision_of_a_customer_counts_with_its_own_send_time(tmp_path):
    queue = [queued("1", MS + 300), queued("1", MS + 2_500, revision=2), queued("2", MS + 400)]

    messages, sent = collect(queue, tmp_path)

    assert {m["id"]: m["revision"] for m in messages} == {"1": 2, "2": 1}
    assert delay_after_uploads(sent, UPLOADED_AT) == (
        "the first message was sent 400 ms after the last upload returned, the last 2.5 s after")


@pytest.mark.parametrize("sent, said", [
    pytest.param([MS + 840], "the message was sent 840 ms after the last upload returned", id="one"),
    pytest.param([MS, MS + 1], "the first message was sent less than 1 ms after the last upload returned, "
                               "the last 1 ms after", id="within-a-millisecond"),
    pytest.param([MS + 296, MS + 296, MS + 296], "all 3 messages were sent 296 ms after the last upload "
                                                 "returned", id="all-in-one-millisecond"),
    pytest.param([MS - 120, MS + 80],
                 "the first message was sent 120 ms before the last upload returned (the pipeline was done "
                 "before the awslocal command had exited), the last 80 ms after", id="before-the-cli-exited"),
    pytest.param([], "the queue gave no send times, so how soon the messages came is not known",
                 id="no-send-times"),
])
def test_the_delay_is_said_at_the_resolution_of_the_send_times(sent, said):
    assert delay_after_uploads([ms / 1000 for ms in sent], UPLOADED_AT) == said


def test_a_message_without_a_send_time_is_shown_but_not_timed(tmp_path):
    messages, sent = collect([queued("1", None), queued("2", MS + 900)], tmp_path)

    assert sorted(m["id"] for m in messages) == ["1", "2"]
    assert sent == [pytest.approx(UPLOADED_AT + 0.9)]
