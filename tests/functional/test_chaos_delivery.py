"""Chaos mode's delivery faults through the runner's intake, on moto's SQS."""
from __future__ import annotations

import json
import threading

import boto3
import pytest
from moto import mock_aws

from scripts.sandbox.chaos.delivery import ChaosDelivery
from scripts.sandbox.chaos.settings import Chaos
from scripts.sandbox.intake import Intake

EVENT = json.dumps({"Records": [{"s3": {"object": {"key": "p/items_b1.csv", "eTag": "e1"}}}]})


@pytest.fixture
def events_queue(aws_credentials):
    """moto's SQS and an events queue's URL."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield sqs, sqs.create_queue(QueueName="events")["QueueUrl"]


def intake_making_every_event_late(sqs, url: str, handled: list[str]) -> Intake:
    """The runner's intake with CHAOS=late=1; ``handled`` gets the id of each message it hands on."""
    return Intake(sqs, url, lambda body, message_id: handled.append(message_id) or [],
                  threading.Event(), lambda seconds: None,
                  delivery=ChaosDelivery(Chaos.parse("late=1"), sqs, url))


def delayed(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessagesDelayed"]


def test_an_event_handed_back_to_the_queue_is_retried_at_once_never_made_late(events_queue):
    sqs, url = events_queue
    handled: list[str] = []
    intake = intake_making_every_event_late(sqs, url, handled)
    sent = sqs.send_message(QueueUrl=url, MessageBody=EVENT)["MessageId"]
    # A runner received it and stopped without handling it: it is visible again at once.
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)

    intake.poll_once(wait_seconds=0)

    assert handled == [sent]  # the same message, so the same request id: Lambda's retry
    assert delayed(sqs, url) == "0"  # no late copy was made


def test_a_first_delivery_can_still_come_late(events_queue):
    sqs, url = events_queue
    handled: list[str] = []
    intake = intake_making_every_event_late(sqs, url, handled)
    sqs.send_message(QueueUrl=url, MessageBody=EVENT)

    intake.poll_once(wait_seconds=0)

    assert handled == [] and delayed(sqs, url) == "1"
