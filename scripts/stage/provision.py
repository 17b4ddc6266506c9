"""Creates the stage's buckets, table and queues; safe to run any number of times.

Every stage uses this module: the local sandbox when it starts
(scripts/sandbox/lifecycle.py), AWS stages on deploy (scripts/stage/plan.py).
It creates what is missing and sets the settings that matter on what exists;
it never deletes anything.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from chalicelib.config import CHALICE_CONFIG, Settings
from chalicelib.errors import ConfigurationError

# How often a consumer may fail a message before SQS moves it to the dead-letter queue.
MAX_RECEIVE_COUNT = 5
TTL_ATTRIBUTE = "expires_at"  # of row chunks: see chalicelib/row_store.py
FOURTEEN_DAYS = str(14 * 24 * 3600)

# What ensure_point_in_time_recovery reports (Resources.point_in_time_recovery).
PITR_OFF = "off"
PITR_ENABLED = "enabled"
PITR_UNSUPPORTED = "unsupported by this endpoint"
# Error codes with which emulators say they do not implement an operation.
_UNSUPPORTED_CODES = {"UnknownOperationException", "NotImplemented", "NotImplementedError",
                      "InvalidAction", "501"}
_AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


@dataclass(frozen=True)
class Resources:
    ingest_bucket: str
    table_name: str
    output_queue_url: str
    dead_letter_queue_url: str
    point_in_time_recovery: str = PITR_OFF
    results_bucket: str = ""


def provision(settings: Settings, s3, dynamodb, sqs, point_in_time_recovery: bool = False,
              sleep: Callable[[float], None] = time.sleep) -> Resources:
    """Create or update the stage's buckets, table and queues.

    ``point_in_time_recovery`` is for AWS stages: the sandbox's data is
    disposable, a deployed stage's table is the only copy of its rows.
    """
    if settings.output_queue_name.endswith(".fifo") != settings.dead_letter_queue_name.endswith(".fifo"):
        raise ConfigurationError(
            "OUTPUT_QUEUE_NAME and DEAD_LETTER_QUEUE_NAME must both end in .fifo or neither: "
            "SQS requires the dead-letter queue of a FIFO queue to be FIFO too")
    ensure_bucket(s3, settings.ingest_bucket)
    ensure_bucket(s3, settings.results_bucket)
    ensure_table(dynamodb, settings.table_name)
    ensure_time_to_live(dynamodb, settings.table_name)
    pitr = (ensure_point_in_time_recovery(dynamodb, settings.table_name, sleep=sleep)
            if point_in_time_recovery else PITR_OFF)
    dlq_url = ensure_queue(sqs, settings.dead_letter_queue_name,
                           {"MessageRetentionPeriod": FOURTEEN_DAYS})
    output_url = ensure_queue(sqs, settings.output_queue_name, {
        "MessageRetentionPeriod": FOURTEEN_DAYS,
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq_url),
                                     "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
    })
    return Resources(settings.ingest_bucket, settings.table_name, output_url, dlq_url, pitr,
                     results_bucket=settings.results_bucket)


def ensure_bucket(s3, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("403", "AccessDenied"):
            raise _bucket_taken(bucket) from exc
        if code not in ("404", "NoSuchBucket"):
            raise
        _create_bucket(s3, bucket)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})


def _create_bucket(s3, bucket: str) -> None:
    region = s3.meta.region_name
    location = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=bucket, **location)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass  # created meanwhile by another run: what we wanted
    except s3.exceptions.BucketAlreadyExists as exc:
        raise _bucket_taken(bucket) from exc


def _bucket_taken(bucket: str) -> ConfigurationError:
    # Bucket names are global across all AWS accounts: a 403 on HeadBucket or
    # BucketAlreadyExists means someone else has this name.
    return ConfigurationError(
        f"the S3 bucket name {bucket!r} belongs to another AWS account (bucket names are "
        f"global): choose unique INGEST_BUCKET and RESULTS_BUCKET names for the stage in "
        f"{CHALICE_CONFIG}, e.g. with your account id or initials as a suffix, and put the same name in the "
        f"bucket ARNs of the stage's .chalice/policy-<stage>.json")


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


def ensure_time_to_live(dynamodb, table_name: str) -> None:
    """Let DynamoDB delete row chunks once their ``expires_at`` has passed; idempotent.

    TTL deletes are free and happen within days of the time; reads filter
    expired chunks until then (``store``).
    """
    description = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if description.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        if description.get("AttributeName") != TTL_ATTRIBUTE:
            raise ConfigurationError(
                f"table {table_name} has TTL on {description.get('AttributeName')!r}; the "
                f"pipeline's rows expire by {TTL_ATTRIBUTE!r}: turn TTL off on the table "
                f"(aws dynamodb update-time-to-live) and provision again")
        return
    dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": TTL_ATTRIBUTE})


def ensure_point_in_time_recovery(dynamodb, table_name: str,
                                  sleep: Callable[[float], None] = time.sleep,
                                  attempts: int = 12) -> str:
    """Turn on point-in-time recovery (35 days of restorable history); idempotent.

    Emulators that do not implement it are tolerated (the sandbox's data is
    disposable); against AWS every failure is raised.
    """
    try:
        description = dynamodb.describe_continuous_backups(TableName=table_name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _UNSUPPORTED_CODES and not is_aws_endpoint(dynamodb):
            return PITR_UNSUPPORTED
        raise
    status = description["ContinuousBackupsDescription"].get(
        "PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "DISABLED")
    if status in ("ENABLED", "ENABLING"):
        return PITR_ENABLED
    attempt = 1
    while True:
        try:
            dynamodb.update_continuous_backups(
                TableName=table_name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
            return PITR_ENABLED
        except dynamodb.exceptions.ContinuousBackupsUnavailableException:
            # A table created moments ago is still setting up its backups; AWS
            # answers this until it is done, usually within a minute.
            if attempt >= attempts:
                raise
            attempt += 1
            sleep(5)


def is_aws_endpoint(client) -> bool:
    """Whether ``client`` talks to AWS itself rather than an emulator."""
    host = urlparse(client.meta.endpoint_url).hostname or ""
    return host.endswith(_AWS_HOST_SUFFIXES)


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
    # A long visibility timeout (Lambda's longest timeout, 15 minutes), which
    # the runner extends for as long as it handles an event (visibility.py).
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


def connect_bucket_to_function(s3, bucket: str, function_arn: str, events: list[str]) -> None:
    """Send the bucket's notifications for ``events`` to a Lambda function.

    `chalice deploy` sets this up in the first place (with Lambda's permission
    for S3 to invoke the function); this puts it back after the sandbox sent the
    events to the local runner instead (`make local-deliver TO=function`).
    """
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"Id": "deployed-function", "LambdaFunctionArn": function_arn,
                                          "Events": sorted(set(events))}]})
