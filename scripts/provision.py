"""Creates the pipeline's AWS resources; safe to run any number of times.

Every stage uses this module: the local sandbox now, AWS stages on deploy.
It creates what is missing and sets the settings that matter on what exists;
it never deletes anything.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from chalicelib.config import Settings
from chalicelib.errors import ConfigurationError

# How often a consumer may fail a message before SQS moves it to the dead-letter queue.
MAX_RECEIVE_COUNT = 5
FOURTEEN_DAYS = str(14 * 24 * 3600)


@dataclass(frozen=True)
class Resources:
    ingest_bucket: str
    table_name: str
    output_queue_url: str
    dead_letter_queue_url: str


def provision(settings: Settings, s3, dynamodb, sqs) -> Resources:
    if settings.output_queue_name.endswith(".fifo") != settings.dead_letter_queue_name.endswith(".fifo"):
        raise ConfigurationError(
            "OUTPUT_QUEUE_NAME and DEAD_LETTER_QUEUE_NAME must both end in .fifo or neither: "
            "SQS requires the dead-letter queue of a FIFO queue to be FIFO too")
    ensure_bucket(s3, settings.ingest_bucket)
    ensure_table(dynamodb, settings.table_name)
    dlq_url = ensure_queue(sqs, settings.dead_letter_queue_name,
                           {"MessageRetentionPeriod": FOURTEEN_DAYS})
    output_url = ensure_queue(sqs, settings.output_queue_name, {
        "MessageRetentionPeriod": FOURTEEN_DAYS,
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq_url),
                                     "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
    })
    return Resources(settings.ingest_bucket, settings.table_name, output_url, dlq_url)


def ensure_bucket(s3, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise
        region = s3.meta.region_name
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket,
                             CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})


def ensure_table(dynamodb, table_name: str) -> None:
    try:
        dynamodb.describe_table(TableName=table_name)
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
    dynamodb.get_waiter("table_exists").wait(TableName=table_name,
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def ensure_queue(sqs, name: str, attributes: dict[str, str]) -> str:
    # Created bare, then configured: CreateQueue fails on an existing queue whose
    # attributes differ, SetQueueAttributes does not. FifoQueue can only be set here.
    fifo = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
    url = sqs.create_queue(QueueName=name, Attributes=fifo)["QueueUrl"]
    if attributes:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def queue_arn(sqs, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url,
                                    AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def connect_bucket_to_queue(s3, sqs, bucket: str, queue_name: str, events: list[str]) -> str:
    """Send the bucket's notifications for ``events`` to a queue (the local event runner's)."""
    # A long visibility timeout: an event being handled must not be handed out
    # again before the handler's own time limit (Lambda's maximum is 15 minutes).
    url = ensure_queue(sqs, queue_name, {"VisibilityTimeout": "900"})
    arn = queue_arn(sqs, url)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                       "Action": "sqs:SendMessage", "Resource": arn,
                       "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}}}],
    })})
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"Id": "local-event-runner", "QueueArn": arn,
                                 "Events": sorted(set(events))}]})
    return url
