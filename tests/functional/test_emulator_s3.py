"""The embedded emulator's S3 events: one per object written, named and sequenced as S3 sends them."""
from __future__ import annotations

import json
import threading

import boto3
import pytest
from moto import mock_aws
from moto.s3 import notifications
from moto.s3.models import s3_backends

MOTO_ACCOUNT = "123456789012"
BUCKET = "ingest"


@pytest.fixture
def s3_fixes(monkeypatch, aws_credentials) -> None:
    """The emulator's S3 fixes, installed for one test; moto's own are put back after it."""
    from scripts.sandbox import emulator
    for patch in emulator.patches():
        monkeypatch.setattr(patch.owner, patch.name, getattr(patch.owner, patch.name))
    emulator.install_fixes("s3")


@pytest.fixture
def bucket(s3_fixes):
    """A bucket whose ObjectCreated events go to queues "events" and "audit"; yields (s3, sqs)."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        configurations = []
        for name in ("events", "audit"):
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            configurations.append({"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]})
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": configurations})
        yield s3, sqs


def records(sqs, queue: str = "events") -> list[dict]:
    """Every S3 event record on the queue so far, in the order sent (S3's test event left out)."""
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found += json.loads(message["Body"]).get("Records", [])
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
    return found


def upload_in_parts(s3, key: str, body: bytes) -> None:
    """What `aws s3 cp` does from 8 MiB on; one part is enough for S3 and for moto."""
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=body)
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})


def sequencer_order(sequencer: str) -> str:
    """S3's rule: compare sequencers of one key after left-padding them with zeros."""
    return sequencer.rjust(64, "0")


def test_a_multipart_upload_sends_one_event_as_s3_does(bucket):
    s3, sqs = bucket

    upload_in_parts(s3, "orders_20230828.csv", b"order_id,customer_id,amount\n1001,1,250.00\n")

    [record] = records(sqs)
    head = s3.head_object(Bucket=BUCKET, Key="orders_20230828.csv")
    assert record["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    assert record["s3"]["object"]["key"] == "orders_20230828.csv"
    assert record["s3"]["object"]["eTag"] == head["ETag"].strip('"')
    assert record["s3"]["object"]["size"] == head["ContentLength"]


def test_a_put_and_a_copy_still_send_one_event_each(bucket):
    s3, sqs = bucket

    s3.put_object(Bucket=BUCKET, Key="a.csv", Body=b"x")
    s3.copy_object(Bucket=BUCKET, Key="b.csv", CopySource={"Bucket": BUCKET, "Key": "a.csv"})

    assert [r["eventName"] for r in records(sqs)] == ["ObjectCreated:Put", "ObjectCreated:Copy"]


def test_every_event_has_a_sequencer_that_grows_with_each_write_of_its_key(bucket):
    s3, sqs = bucket

    s3.put_object(Bucket=BUCKET, Key="k.csv", Body=b"1")
    s3.put_object(Bucket=BUCKET, Key="other.csv", Body=b"1")
    upload_in_parts(s3, "k.csv", b"2")
    s3.copy_object(Bucket=BUCKET, Key="k.csv", CopySource={"Bucket": BUCKET, "Key": "other.csv"})
    s3.put_object(Bucket=BUCKET, Key="k.csv", Body=b"4")

    sequencers = [r["s3"]["object"]["sequencer"] for r in records(sqs) if r["s3"]["object"]["key"] == "k.csv"]
    assert len(sequencers) == 4
    assert all(s and all(c in "0123456789ABCDEF" for c in s) for s in sequencers)
    ordered = [sequencer_order(s) for s in sequencers]
    assert ordered == sorted(ordered) and len(set(ordered)) == 4  # strictly increasing


def test_each_destination_gets_the_same_sequencer_for_one_event(bucket):
    s3, sqs = bucket

    s3.put_object(Bucket=BUCKET, Key="k.csv", Body=b"1")

    [event], [audit] = records(sqs, "events"), records(sqs, "audit")
    assert event["s3"]["object"]["sequencer"] == audit["s3"]["object"]["sequencer"]


def test_of_two_writes_of_one_key_at_once_the_larger_sequencer_is_the_object_kept(bucket, monkeypatch):
    # The pipeline keeps a key's version by its sequencer. Thread A has stored
    # its object and is about to send its event when thread B writes the same
    # key: B's event must come out with the larger sequencer, as B's object is
    # the one kept.
    s3, sqs = bucket
    backend = s3_backends[MOTO_ACCOUNT]["aws"]
    send_event = notifications.send_event  # the emulator's
    second = threading.Thread(target=lambda: backend.put_object(BUCKET, "k.csv", b"from B"))

    def a_second_write_comes_in_first(*args, **kwargs):
        if second.ident is None:
            second.start()
            # Without the emulator's lock B finishes at once; with it, B waits
            # for A whatever this wait, so the outcome does not depend on it.
            second.join(1)
        return send_event(*args, **kwargs)

    monkeypatch.setattr(notifications, "send_event", a_second_write_comes_in_first)
    backend.put_object(BUCKET, "k.csv", b"from A")
    second.join(10)

    kept = s3.head_object(Bucket=BUCKET, Key="k.csv")["ETag"].strip('"')
    latest = max(records(sqs), key=lambda r: sequencer_order(r["s3"]["object"]["sequencer"]))
    assert s3.get_object(Bucket=BUCKET, Key="k.csv")["Body"].read() == b"from B"
    assert latest["s3"]["object"]["eTag"] == kept
