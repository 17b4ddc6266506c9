"""`make local-deliver`: the bucket's S3 events go to the runner's queue or to the
deployed function, never to both (each would handle every file once more)."""
from __future__ import annotations

import io
import zipfile

import pytest
from moto import mock_aws

from chalicelib import aws
from chalicelib.config import Settings
from scripts.stage.provision import connect_bucket_to_function, connect_bucket_to_queue, provision

EVENTS = ["s3:ObjectCreated:*"]


@pytest.fixture
def bucket_and_function(aws_credentials):
    with mock_aws():
        aws.clear_cache()
        settings = Settings.for_stage("local")
        provision(settings, aws.client("s3"), aws.client("dynamodb"), aws.client("sqs"))
        role = aws.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("app.py", "")
        arn = aws.client("lambda").create_function(
            FunctionName="order-pipeline-local-on_csv_uploaded", Runtime="python3.11", Role=role,
            Handler="app.on_csv_uploaded", Code={"ZipFile": package.getvalue()})["FunctionArn"]
        yield settings.ingest_bucket, arn
    aws.clear_cache()


def notification(bucket: str) -> dict:
    config = aws.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    config.pop("ResponseMetadata")
    return config


def test_to_the_function_replaces_the_runners_queue(bucket_and_function):
    bucket, function_arn = bucket_and_function
    connect_bucket_to_queue(aws.client("s3"), aws.client("sqs"), bucket, "events", EVENTS)

    connect_bucket_to_function(aws.client("s3"), bucket, function_arn, EVENTS)

    config = notification(bucket)
    assert "QueueConfigurations" not in config
    assert [(c["LambdaFunctionArn"], c["Events"]) for c in config["LambdaFunctionConfigurations"]] == [
        (function_arn, EVENTS)]


def test_to_the_runner_replaces_the_function(bucket_and_function):
    bucket, function_arn = bucket_and_function
    connect_bucket_to_function(aws.client("s3"), bucket, function_arn, EVENTS)

    url = connect_bucket_to_queue(aws.client("s3"), aws.client("sqs"), bucket, "events", EVENTS)

    config = notification(bucket)
    assert "LambdaFunctionConfigurations" not in config
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    assert [(c["QueueArn"], c["Events"]) for c in config["QueueConfigurations"]] == [(queue_arn, EVENTS)]
