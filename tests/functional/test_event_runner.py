"""The local event runner: S3 notifications to the app's handlers, retries, dead letters."""
from __future__ import annotations

import json
import threading
import time

import pytest

from chalicelib.pipeline import Pipeline
from scripts.sandbox.event_runner import EventRunner
from scripts.sandbox.notifications import events_queue_name, load_app, s3_events_of
from scripts.stage.provision import connect_bucket_to_queue
from tests.conftest import SAMPLE_BATCH, assert_sample_messages, sample_bytes


@pytest.fixture
def runner(sandbox):
    app = load_app("local")
    events_url = connect_bucket_to_queue(sandbox.s3, sandbox.sqs, sandbox.settings.ingest_bucket,
                                         events_queue_name(sandbox.settings),
                                         s3_events_of(app, sandbox.settings.ingest_bucket))
    return EventRunner(app, sandbox.sqs, events_url, sandbox.resources.dead_letter_queue_url,
                       max_attempts=3, sleep=lambda seconds: None)


def drain(runner):
    invocations = []
    while batch := runner.poll_once(wait_seconds=0):
        invocations.extend(batch)
    return invocations


def test_uploads_reach_the_handler_through_the_bucket_notification(sandbox, runner):
    drain(runner)  # the s3:TestEvent sent when the notification was configured
    for kind in ("items", "orders", "customers"):
        sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket,
                              Key=f"incoming/{kind}_{SAMPLE_BATCH}.csv", Body=sample_bytes(kind))
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket, Key="notes.txt", Body=b"x")

    invocations = drain(runner)

    assert [(i.key, i.ok) for i in invocations] == [
        (f"incoming/{k}_{SAMPLE_BATCH}.csv", True) for k in ("items", "orders", "customers")
    ] + [("notes.txt", True)]  # every object is a partner's: a misnamed one gets its report
    assert invocations[2].result["published_revision"] == 1
    assert invocations[3].result["report_key"] == "unknown-names/notes.txt.json"
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)


def test_a_failing_event_is_retried_then_dead_lettered_with_the_error(sandbox, runner, monkeypatch):
    drain(runner)
    attempts = []

    def broken(self, record, invocation_id="", remaining_ms=None):
        attempts.append(record["s3"]["object"]["key"])
        raise RuntimeError("table is unreachable")

    monkeypatch.setattr(Pipeline, "process_record", broken)
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket,
                          Key=f"orders_{SAMPLE_BATCH}.csv", Body=sample_bytes("orders"))

    [invocation] = drain(runner)

    assert not invocation.ok and len(attempts) == 3
    [record] = [json.loads(body) for body in _bodies(sandbox, sandbox.resources.dead_letter_queue_url)]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"] == {"errorMessage": "table is unreachable", "errorType": "RuntimeError"}
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == f"orders_{SAMPLE_BATCH}.csv"
    assert sandbox.receive_all() == []  # errors never go to the output queue


def test_the_line_per_invocation_counts_in_words(sandbox, runner, caplog):
    drain(runner)
    bucket = sandbox.settings.ingest_bucket
    sandbox.s3.put_object(Bucket=bucket, Key="partner-a/customers_one.csv",
                          Body=b"customer_id,customer_name\n1,John Doe\n")
    sandbox.s3.put_object(Bucket=bucket, Key="partner-a/orders_one.csv",
                          Body=b"order_id,customer_id,amount\n1001,1,250.00\n")
    sandbox.s3.put_object(Bucket=bucket, Key="partner-a/items_one.csv",
                          Body=b"item_id,order_id\n501,1001\n502,1001\n")

    with caplog.at_level("INFO", logger="event_runner"):
        drain(runner)

    lines = [r.getMessage() for r in caplog.records if r.name == "event_runner"]
    assert any(line.startswith("partner-a/customers_one.csv -> on_csv_uploaded: "
                               "accepted, 1 row of batch one,")
               for line in lines), lines
    assert any(line.startswith("partner-a/items_one.csv -> on_csv_uploaded: accepted, 2 rows of batch one, "
                               "published revision 1 (1 message) in ") for line in lines), lines


def _bodies(sandbox, url):
    return [m["Body"] for m in sandbox.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


def dead_letter_the_sample_batch(sandbox, runner, monkeypatch) -> str:
    """Upload the sample batch while its handler fails: its three events end in the dead-letter
    queue."""
    drain(runner)
    monkeypatch.setattr(Pipeline, "process_record",
                        lambda self, record, invocation_id="", remaining_ms=None: 1 / 0)
    for kind in ("customers", "orders", "items"):
        sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket,
                              Key=f"{kind}_{SAMPLE_BATCH}.csv", Body=sample_bytes(kind))
    assert [i.ok for i in drain(runner)] == [False] * 3
    return sandbox.resources.dead_letter_queue_url


def test_replay_sends_dead_lettered_events_back_once_the_cause_is_fixed(sandbox, runner, monkeypatch):
    from scripts.replay import replay
    real = Pipeline.process_record
    dlq = dead_letter_the_sample_batch(sandbox, runner, monkeypatch)
    sandbox.sqs.send_message(QueueUrl=dlq, MessageBody='{"id": "1", "name": "a customer message"}')

    still_broken = replay(runner, sandbox.sqs, dlq)
    assert len(still_broken.failed_again) == 3 and still_broken.replayed == []

    monkeypatch.setattr(Pipeline, "process_record", real)  # the cause is fixed
    result = replay(runner, sandbox.sqs, dlq)

    assert sorted(result.replayed) == sorted(
        f"{k}_{SAMPLE_BATCH}.csv" for k in ("customers", "orders", "items"))
    assert result.failed_again == [] and result.left_in_place == 1
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    assert [json.loads(b) for b in _bodies(sandbox, dlq)] == [{"id": "1", "name": "a customer message"}]


def test_an_interrupted_replay_puts_back_at_once_the_records_it_had_not_finished(
        sandbox, runner, monkeypatch):
    from scripts.replay import replay
    dlq = dead_letter_the_sample_batch(sandbox, runner, monkeypatch)
    handled = []

    def interrupted_at_the_second(message):
        handled.append(message)
        if len(handled) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second record is replayed
        return []
    monkeypatch.setattr(runner, "handle_message", interrupted_at_the_second)

    with pytest.raises(KeyboardInterrupt):
        replay(runner, sandbox.sqs, dlq)

    # The first was done with (no handler took it: left in place); the second and the third
    # are visible again now, not when the snapshot's 15 minutes end.
    counts = sandbox.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"],
            counts["ApproximateNumberOfMessagesNotVisible"]) == ("3", "0")


def test_an_event_handled_past_the_queue_s_visibility_timeout_is_not_handed_out_again(sandbox, monkeypatch):
    # Three 15-minute attempts outlast the events queue's 900 s; here 2 s stand
    # for them, and two events taken at once whose handling takes 2.5 s each.
    app = load_app("local")
    events_url = connect_bucket_to_queue(sandbox.s3, sandbox.sqs, sandbox.settings.ingest_bucket,
                                         events_queue_name(sandbox.settings),
                                         s3_events_of(app, sandbox.settings.ingest_bucket))
    sandbox.sqs.set_queue_attributes(QueueUrl=events_url, Attributes={"VisibilityTimeout": "2"})
    runner = EventRunner(app, sandbox.sqs, events_url, sandbox.resources.dead_letter_queue_url,
                         max_attempts=3, sleep=lambda seconds: None,
                         visibility_seconds=3, extend_every_seconds=0.5)
    drain(runner)  # the s3:TestEvent
    handling = threading.Event()
    process_record = Pipeline.process_record

    def slow(self, record, invocation_id="", remaining_ms=None):
        handling.set()
        time.sleep(2.5)
        return process_record(self, record, invocation_id, remaining_ms)

    monkeypatch.setattr(Pipeline, "process_record", slow)
    for kind in ("orders", "customers"):
        sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket,
                              Key=f"{kind}_{SAMPLE_BATCH}.csv", Body=sample_bytes(kind))
    invocations = []
    worker = threading.Thread(target=lambda: invocations.extend(runner.poll_once(wait_seconds=1)))
    worker.start()
    assert handling.wait(10), "the runner did not take the event"
    handed_out_again = []
    while worker.is_alive():  # another receiver, as a second runner thread would be
        handed_out_again += sandbox.sqs.receive_message(QueueUrl=events_url,
                                                        VisibilityTimeout=0).get("Messages", [])
        time.sleep(0.25)
    worker.join()

    assert handed_out_again == []
    assert sorted((i.key, i.ok, i.attempts) for i in invocations) == [
        (f"{kind}_{SAMPLE_BATCH}.csv", True, 1) for kind in ("customers", "orders")]  # one poll took both
    assert sandbox.sqs.receive_message(QueueUrl=events_url, VisibilityTimeout=0).get("Messages", []) == []


def test_a_replay_that_outlasts_the_snapshot_s_visibility_keeps_its_records_from_others(
        sandbox, runner, monkeypatch):
    from scripts import replay as replay_module
    real = Pipeline.process_record
    dlq = dead_letter_the_sample_batch(sandbox, runner, monkeypatch)

    replaying_started = threading.Event()

    # The cause is fixed, but each replay takes 1.5 s.
    def slow(self, record, invocation_id="", remaining_ms=None):
        replaying_started.set()  # the snapshot is taken
        time.sleep(1.5)
        return real(self, record, invocation_id, remaining_ms)

    monkeypatch.setattr(Pipeline, "process_record", slow)
    monkeypatch.setattr(replay_module, "_SNAPSHOT_VISIBILITY", 2)  # stands in for 900 s
    results = []
    replaying = threading.Thread(target=lambda: results.append(
        replay_module.replay(runner, sandbox.sqs, dlq, extend_every_seconds=0.5)))
    replaying.start()
    assert replaying_started.wait(10), "the replay did not start"
    taken_meanwhile = []
    while replaying.is_alive():  # a second `make replay`, or anyone else reading the queue
        taken_meanwhile += sandbox.sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0).get("Messages", [])
        time.sleep(0.25)
    replaying.join()

    assert taken_meanwhile == []
    [result] = results
    assert sorted(result.replayed) == sorted(
        f"{k}_{SAMPLE_BATCH}.csv" for k in ("customers", "orders", "items"))
    assert_sample_messages(sandbox.receive_all(), SAMPLE_BATCH)
    assert _bodies(sandbox, dlq) == []


def test_events_a_failed_poll_had_not_reached_go_back_to_the_queue(sandbox):
    app = load_app("local")
    events_url = connect_bucket_to_queue(sandbox.s3, sandbox.sqs, sandbox.settings.ingest_bucket,
                                         events_queue_name(sandbox.settings),
                                         s3_events_of(app, sandbox.settings.ingest_bucket))
    sandbox.sqs.set_queue_attributes(QueueUrl=events_url, Attributes={"VisibilityTimeout": "1"})
    runner = EventRunner(app, sandbox.sqs, events_url, sandbox.resources.dead_letter_queue_url,
                         max_attempts=3, sleep=lambda seconds: None,
                         visibility_seconds=1, extend_every_seconds=0.2)
    drain(runner)  # the s3:TestEvent
    sandbox.sqs.send_message(QueueUrl=events_url, MessageBody="not an S3 notification")
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket,
                          Key=f"orders_{SAMPLE_BATCH}.csv", Body=sample_bytes("orders"))

    with pytest.raises(json.JSONDecodeError):
        runner.poll_once(wait_seconds=0)  # takes both; the first one fails it
    # Once the queue's own timeout (1 s) has passed, with nothing extending it any more,
    # both are visible again; the wait ends when they are, or fails after 10 s.
    bodies: list[str] = []
    deadline = time.monotonic() + 10
    while len(bodies) < 2 and time.monotonic() < deadline:
        bodies = [m["Body"] for m in sandbox.sqs.receive_message(
            QueueUrl=events_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
            WaitTimeSeconds=1).get("Messages", [])]

    assert "not an S3 notification" in bodies
    assert any(f"orders_{SAMPLE_BATCH}.csv" in body for body in bodies)  # not kept hidden for good
