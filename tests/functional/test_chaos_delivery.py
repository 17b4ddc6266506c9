"""Chaos mode's delivery faults through the runner's intake, on moto's SQS."""
from __future__ import annotations

import json
import threading

import boto3
from moto import mock_aws

from scripts.sandbox.chaos.delivery import ChaosDelivery
from scripts.sandbox.chaos.settings import Chaos
from scripts.sandbox.intake import Intake

EVENT = json.dumps({"Records": [{"s3": {"object": {"key": "p/items_b1.csv", "eTag": "e1"}}}]})


def test_an_event_handed_back_to_the_queue_is_retried_at_once_never_made_late(aws_credentials):
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        handled: list[str] = []
        intake = Intake(sqs, url, lambda body, message_id: handled.append(message_id) or [],
                        threading.Event(), lambda seconds: None,
                        delivery=ChaosDelivery(Chaos.parse("late=1"), sqs, url))
        sent = sqs.send_message(QueueUrl=url, MessageBody=EVENT)["MessageId"]
        # A runner received it and stopped without handling it: it is visible again at once.
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)

        intake.poll_once(wait_seconds=0)

        assert handled == [sent]  # the same message, so the same request id: Lambda's retry
        left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert left["ApproximateNumberOfMessagesDelayed"] == "0"  # no late copy was made


def test_a_first_delivery_can_still_come_late(aws_credentials):
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        handled: list[str] = []
        intake = Intake(sqs, url, lambda body, message_id: handled.append(message_id) or [],
                        threading.Event(), lambda seconds: None,
                        delivery=ChaosDelivery(Chaos.parse("late=1"), sqs, url))
        sqs.send_message(QueueUrl=url, MessageBody=EVENT)

        intake.poll_once(wait_seconds=0)

        assert handled == []
        left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert left["ApproximateNumberOfMessagesDelayed"] == "1"
