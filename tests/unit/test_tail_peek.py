"""What `make tail` and `make demo` read from a peek endpoint, whichever emulator answers."""
from __future__ import annotations

import json

import pytest

from scripts.demo import own_body
from scripts.tail import PeekError, PeekUnavailable, parse_peek

ENDPOINT, QUEUE = "http://127.0.0.1:4566", "http://127.0.0.1:4566/123456789012/q"


def parse(document, status: int = 200) -> list[dict]:
    content = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse_peek(ENDPOINT, QUEUE, status, content)


def test_the_embedded_emulators_answer_is_taken_as_it_is():
    message = {"MessageId": "m1", "Body": "{}", "Attributes": {"ApproximateReceiveCount": "0"},
               "MessageAttributes": {"batch_id": {"DataType": "String", "StringValue": "b"}}}

    assert parse({"Messages": [message]}) == [message]
    assert parse({"Messages": []}) == []


def test_localstacks_nested_answer_gets_the_same_shape():
    message = {"MessageId": "m1", "Body": "{}", "MD5OfBody": "x",
               "Attribute": [{"Name": "SentTimestamp", "Value": "1"},
                             {"Name": "ApproximateReceiveCount", "Value": "0"}],
               "MessageAttribute": {"Name": "folder",
                                    "Value": {"DataType": "String", "StringValue": "f"}}}
    document = {"ReceiveMessageResponse": {"ReceiveMessageResult": {"Message": message}}}

    assert parse(document) == [{
        "MessageId": "m1", "Body": "{}",
        "Attributes": {"SentTimestamp": "1", "ApproximateReceiveCount": "0"},
        "MessageAttributes": {"folder": {"DataType": "String", "StringValue": "f"}}}]
    assert parse({"ReceiveMessageResponse": {"ReceiveMessageResult": None}}) == []


@pytest.mark.parametrize("status, content", [
    (404, b'<?xml version="1.0"?><Error><Code>NoSuchBucket</Code></Error>'),  # plain moto_server
    (200, b"<html>hello</html>"),
    (200, b'{"something": "else"}'),
    (404, b'{"something": "else"}'),
], ids=["moto-s3-404", "html", "unknown-json", "unknown-404"])
def test_an_endpoint_that_is_no_peek_endpoint_is_refused_and_says_what_to_do(status, content):
    with pytest.raises(PeekUnavailable) as caught:
        parse_peek(ENDPOINT, QUEUE, status, content)

    text = str(caught.value)
    assert f"{ENDPOINT} has no /_aws/sqs/messages endpoint" in text
    assert "maxReceiveCount" in text and "SANDBOX=embedded" in text
    assert "`make tail CONSUME=1` receives and deletes every message, of every batch" in text


def test_an_unknown_queue_is_an_error_of_its_own():
    with pytest.raises(PeekError, match="no such queue") as caught:
        parse({"error": "no such queue"}, status=404)
    assert not isinstance(caught.value, PeekUnavailable)
    localstack = {"ErrorResponse": {"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue",
                                              "Message": "The specified queue does not exist."}}}
    with pytest.raises(PeekError, match="does not exist"):
        parse(localstack, status=400)


def body(folder: str, batch_id: str = "20230828") -> str:
    return json.dumps({"id": "1", "batch_id": batch_id, "folder": folder, "revision": 1})


@pytest.mark.parametrize("message, mine", [
    ({"Body": body("demo-1")}, True),
    ({"Body": body("demo-1"), "MessageAttributes": {
        "folder": {"StringValue": "demo-1"}, "batch_id": {"StringValue": "20230828"}}}, True),
    ({"Body": body("demo-1"), "MessageAttributes": {
        "folder": {"StringValue": ""}, "batch_id": {"StringValue": ""}}}, True),
    ({"Body": body("demo-2")}, False),
    ({"Body": body("")}, False),
    ({"Body": body("demo-1", batch_id="20230829")}, False),
    ({"Body": json.dumps({"id": "1", "batch_id": "20230828", "revision": 1})}, False),  # no folder
    ({"Body": "not json"}, False),
    ({"Body": "[1, 2]"}, False),
], ids=["body", "attributes-agree", "attributes-empty", "other-folder", "top-folder", "other-batch",
        "no-folder", "not-json", "not-an-object"])
def test_the_demo_owns_only_messages_of_its_folder_and_batch(message, mine):
    assert (own_body(message, "demo-1", "20230828", s3=None) is not None) is mine


def test_attributes_that_name_another_batch_are_enough_to_skip_a_message():
    # s3=None: an offloaded body would need S3; these attributes decide before that.
    pointer = '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b", "s3Key": "k"}]'
    for attributes in ({"folder": {"StringValue": "demo-2"}}, {"batch_id": {"StringValue": "x"}}):
        assert own_body({"Body": pointer, "MessageAttributes": attributes}, "demo-1", "20230828",
                        s3=None) is None
