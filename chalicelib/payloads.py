"""Customer messages too large for the queue: the body goes to S3, the message points to it.

A customer with tens of thousands of orders makes a message larger than SQS
accepts (1 MiB, or less when the queue's ``MaximumMessageSize`` says so). Such a
body is written to the results bucket, at
``payloads/<folder>/<batch>/<revision>/<customer>.json``,
and the queue gets a pointer in the format of the Amazon SQS Extended Client
Library (Java and Python), so consumers that use it read the body without
knowing; others call ``read_body`` below, or read the pointer themselves:

    ["software.amazon.payloadoffloading.PayloadS3Pointer",
     {"s3BucketName": "...", "s3Key": "payloads/..."}]

with the message attribute ``ExtendedPayloadSize`` (the body's size in bytes).
The key is fixed by folder, batch, revision and customer, so a retried publication
overwrites the same object instead of leaving copies behind.
"""
from __future__ import annotations

import json
from urllib.parse import quote

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
PREFIX = "payloads/"


def payload_key(batch_key: str, revision: int, customer_id: str) -> str:
    # Customer ids may hold any character; quoting keeps the key one path segment.
    return f"{PREFIX}{batch_key}/{revision}/{quote(customer_id, safe='')}.json"


def pointer_body(bucket: str, key: str) -> str:
    return json.dumps([POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}])


def parse_pointer(body: str) -> tuple[str, str] | None:
    """(bucket, key) if ``body`` is a payload pointer, else None."""
    if not body.startswith('["' + POINTER_CLASS):
        return None
    _, location = json.loads(body)
    return location["s3BucketName"], location["s3Key"]


class S3PayloadStore:
    """Writes message bodies to S3 and reads them back."""

    def __init__(self, client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, batch_key: str, revision: int, customer_id: str, body: str) -> str:
        """Store ``body``; return the pointer message body."""
        key = payload_key(batch_key, revision, customer_id)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body.encode("utf-8"),
                                ContentType="application/json")
        return pointer_body(self._bucket, key)


def read_body(body: str, s3) -> str:
    """The message body itself: fetched from S3 when ``body`` is a pointer."""
    location = parse_pointer(body)
    if location is None:
        return body
    bucket, key = location
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
