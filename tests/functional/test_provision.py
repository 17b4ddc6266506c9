"""Provisioning creates what the pipeline needs, and running it again changes nothing."""
from __future__ import annotations

import json

from moto import mock_aws

from chalicelib import aws
from chalicelib.config import Settings
from scripts.stage.provision import provision


def test_provisioning_twice_is_harmless_and_sets_what_matters(aws_credentials):
    with mock_aws():
        settings = Settings.for_stage("local")
        clients = aws.client("s3"), aws.client("dynamodb"), aws.client("sqs")
        first = provision(settings, *clients)
        second = provision(settings, *clients)
        s3, dynamodb, sqs = clients

        assert first == second
        block = s3.get_public_access_block(Bucket=settings.ingest_bucket)
        assert all(block["PublicAccessBlockConfiguration"].values())
        rules = s3.get_bucket_encryption(Bucket=settings.ingest_bucket)[
            "ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        table = dynamodb.describe_table(TableName=settings.table_name)["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        redrive = json.loads(sqs.get_queue_attributes(
            QueueUrl=first.output_queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"])
        dlq_arn = sqs.get_queue_attributes(QueueUrl=first.dead_letter_queue_url,
                                           AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert redrive["deadLetterTargetArn"] == dlq_arn
        assert int(redrive["maxReceiveCount"]) == 5
        assert len(sqs.list_queues()["QueueUrls"]) == 2
