"""Functional tier: moto in-process, the app through Chalice's test client."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote_plus

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import aws, wiring
from chalicelib.config import Settings
from chalicelib.messages import from_json
from chalicelib.payloads import read_body
from scripts.sandbox.provision import Resources, provision
from tests.conftest import PROJECT_DIR


@dataclass(frozen=True)
class Received:
    """One message as a consumer receives it: raw body text and attributes."""

    body: str
    attributes: tuple  # ((name, value), ...) sorted
    key: str           # the idempotency_key attribute

    @property
    def parsed(self) -> dict:
        return from_json(self.body)


def by_idempotency_key(received: list[Received], repeats_allowed: bool) -> dict[str, Received]:
    """The distinct messages by idempotency key.

    Without ``repeats_allowed`` every key arrives once. With it (a failure
    between sending and marking published, README Guarantee 3) a key may
    arrive again, but only as a byte-identical copy, attributes included, so a
    consumer dropping seen keys loses nothing and sees nothing different.
    """
    by_key: dict[str, Received] = {}
    for message in received:
        if message.key in by_key:
            assert repeats_allowed, f"{message.key} published twice without a failure"
            assert message == by_key[message.key], f"a repeat of {message.key} differs"
        by_key[message.key] = message
    return by_key


@dataclass
class Sandbox:
    settings: Settings
    resources: Resources
    client: Client
    sequence: int = 0x5B039F73C627CE8B

    @property
    def s3(self):
        return aws.client("s3")

    @property
    def sqs(self):
        return aws.client("sqs")

    def upload(self, key: str, body: bytes) -> dict:
        """Put an object and deliver its event to the handler, as S3 -> Lambda would."""
        self.s3.put_object(Bucket=self.settings.ingest_bucket, Key=key, Body=body)
        return self.deliver(key)

    def event_for(self, key: str) -> dict:
        """The S3 event of the object's current content, as S3 would send it."""
        event = self.client.events.generate_s3_event(bucket=self.settings.ingest_bucket,
                                                     key=quote_plus(key, safe="/"))
        head = self.s3.head_object(Bucket=self.settings.ingest_bucket, Key=key)
        self.sequence += 1
        event["Records"][0]["s3"]["object"].update(
            eTag=head["ETag"].strip('"'), size=head["ContentLength"],
            sequencer=f"{self.sequence:016X}")
        return event

    def deliver(self, key: str, event: dict | None = None) -> dict:
        event = event or self.event_for(key)
        return self.client.lambda_.invoke("on_csv_uploaded", event).payload

    def _drain(self, url: str, **receive_options):
        """Every message on the queue, each deleted once it has been handed over."""
        while True:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                **receive_options).get("Messages", [])
            if not messages:
                return
            for message in messages:
                yield message
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def receive_all(self, queue_url: str | None = None) -> list[dict]:
        url = queue_url or self.resources.output_queue_url
        return [from_json(read_body(message["Body"], self.s3)) for message in self._drain(url)]

    def take_messages(self) -> list[Received]:
        """Every message on the output queue as a consumer receives it, taken off the queue."""
        taken = []
        for message in self._drain(self.resources.output_queue_url, MessageAttributeNames=["All"]):
            attributes = {name: a["StringValue"] for name, a in message["MessageAttributes"].items()}
            taken.append(Received(read_body(message["Body"], self.s3),
                                  tuple(sorted(attributes.items())), attributes["idempotency_key"]))
        return taken

    def read_json(self, key: str) -> dict:
        """A report (or payload) from the results bucket."""
        import json
        return json.loads(self.s3.get_object(Bucket=self.settings.results_bucket, Key=key)["Body"].read())

    def result_keys(self, prefix: str = "") -> list[str]:
        """The keys in the results bucket under ``prefix``."""
        listed = self.s3.list_objects_v2(Bucket=self.settings.results_bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture
def sandbox(aws_credentials):
    with mock_aws():
        wiring.clear_cache()
        settings = Settings.for_stage("local")
        resources = provision(settings, aws.client("s3"), aws.client("dynamodb"), aws.client("sqs"))
        from app import app
        with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as client:
            yield Sandbox(settings, resources, client)
        wiring.clear_cache()
