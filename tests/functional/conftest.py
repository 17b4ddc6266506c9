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
from scripts.provision import Resources, provision
from tests.conftest import PROJECT_DIR


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

    def receive_all(self, queue_url: str | None = None) -> list[dict]:
        url = queue_url or self.resources.output_queue_url
        bodies = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(from_json(read_body(message["Body"], self.s3)))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def read_json(self, key: str) -> dict:
        import json
        return json.loads(self.s3.get_object(Bucket=self.settings.ingest_bucket, Key=key)["Body"].read())


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
