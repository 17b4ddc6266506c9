"""Functional tier: moto in-process, the app through Chalice's test client."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import quote_plus

import botocore.endpoint
import pytest
from chalice.test import Client
from moto import mock_aws
from moto.core.models import botocore_stubber

from chalicelib import aws, wiring
from chalicelib.config import Settings
from chalicelib.messages import from_json
from chalicelib.payloads import read_body
from scripts.stage.provision import Resources, provision
from tests.conftest import PROJECT_DIR
from tests.functional.received import Received
from tests.functional.wire import Sleeps, Wire


class Clock:
    """The wall clock the app reads (claims' leases, rows' expiry), which a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


# Lambda retries a failed asynchronous invocation a minute later.
LAMBDA_RETRY_DELAY_SECONDS = 60


@dataclass
class Sandbox:
    settings: Settings
    resources: Resources
    client: Client
    sequence: int = 0x5B039F73C627CE8B
    clock: Clock = field(default_factory=Clock)

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

    def retry(self, key: str, event: dict) -> dict:
        """Lambda's retry of a failed invocation of ``event``: a minute later."""
        self.clock.advance(LAMBDA_RETRY_DELAY_SECONDS)
        return self.deliver(key, event)

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


@contextlib.contextmanager
def running_app() -> Iterator[Sandbox]:
    """moto in-process, the stage's resources, and the app behind Chalice's test client."""
    clock = Clock()
    with mock_aws(), wiring.using(clock=clock):
        wiring.clear_cache()
        try:
            settings = Settings.for_stage("local")
            resources = provision(settings, aws.client("s3"), aws.client("dynamodb"), aws.client("sqs"))
            from app import app
            with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as client:
                yield Sandbox(settings, resources, client, clock=clock)
        finally:
            wiring.clear_cache()


@pytest.fixture
def sandbox(aws_credentials):
    with running_app() as sb:
        yield sb


@pytest.fixture
def sleeps(sandbox, monkeypatch) -> Iterator[Sleeps]:
    # The row store and publisher pause through the seams; botocore sleeps in
    # endpoint._needs_retry with the module's `time`, and replacing that name
    # there (only) records its back-off instead.
    recorded = Sleeps()
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=recorded.sdk.append))
    with wiring.using(store_sleep=recorded.store.append, publisher_sleep=recorded.publisher.append):
        yield recorded


@pytest.fixture
def wire(sandbox, sleeps) -> Wire:
    wire = Wire()
    clients = [aws.client(service) for service in ("s3", "dynamodb", "sqs")]
    for client in clients:
        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-send", wire)
    sandbox.sqs.get_queue_url(QueueName=sandbox.settings.output_queue_name)
    assert wire.attempts == 1  # the app's clients now go through the wire, and only it
    yield wire
    for client in clients:
        client.meta.events.unregister("before-send", wire)
        client.meta.events.register("before-send", botocore_stubber)


@pytest.fixture
def small_chunks():
    """Chunks of a few rows each, so small files make many chunks and write groups."""
    with wiring.using(chunk_bytes=32):
        yield
