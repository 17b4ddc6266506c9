"""Deploy and destroy against moto in-process: point-in-time recovery, the failed-event
destination, and a destroy that will not delete a bucket with files in it.

`chalice deploy` itself is replaced here by a runner that creates the function
as it would, so that these tests run in-process in seconds;
tests/e2e/test_deploy_to_emulator.py runs the real `make deploy STAGE=local`
and `make destroy STAGE=local` against the embedded emulator.
"""
from __future__ import annotations

import io
import zipfile

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib import aws
from chalicelib.config import Settings
from scripts.deploy import main
from scripts.stage.config import Target, load_stage
from scripts.stage.errors import DeployError
from scripts.stage.plan import Deployment, put_event_invoke_config
from scripts.stage.provision import PITR_ENABLED, PITR_UNSUPPORTED, ensure_point_in_time_recovery, provision

ENVIRON = {"AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def moto(aws_credentials):
    with mock_aws():
        aws.clear_cache()
        yield
    aws.clear_cache()


def pitr_status(table: str) -> str:
    return aws.client("dynamodb").describe_continuous_backups(TableName=table)[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]


def test_provision_turns_point_in_time_recovery_on_once(moto):
    settings = Settings.for_stage("dev")
    clients = aws.client("s3"), aws.client("dynamodb"), aws.client("sqs")

    first = provision(settings, *clients, point_in_time_recovery=True)
    second = provision(settings, *clients, point_in_time_recovery=True)

    assert first == second and first.point_in_time_recovery == PITR_ENABLED
    assert pitr_status(settings.table_name) == "ENABLED"


def test_the_sandbox_provisions_without_point_in_time_recovery(moto):
    settings = Settings.for_stage("local")

    resources = provision(settings, aws.client("s3"), aws.client("dynamodb"), aws.client("sqs"))

    assert resources.point_in_time_recovery == "off"
    assert pitr_status(settings.table_name) == "DISABLED"


def dynamodb_at(endpoint: str | None):
    return boto3.session.Session().client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)


def test_an_emulator_without_point_in_time_recovery_is_tolerated(aws_credentials):
    dynamodb = dynamodb_at("http://127.0.0.1:4566")
    with Stubber(dynamodb) as stub:
        stub.add_client_error("describe_continuous_backups", "UnknownOperationException")

        assert ensure_point_in_time_recovery(dynamodb, "t") == PITR_UNSUPPORTED


def test_aws_without_point_in_time_recovery_is_an_error(aws_credentials):
    dynamodb = dynamodb_at(None)
    with Stubber(dynamodb) as stub:
        stub.add_client_error("describe_continuous_backups", "UnknownOperationException")

        with pytest.raises(dynamodb.exceptions.ClientError, match="UnknownOperationException"):
            ensure_point_in_time_recovery(dynamodb, "t")


def test_a_new_tables_backups_not_yet_ready_are_waited_for(aws_credentials):
    dynamodb = dynamodb_at(None)
    sleeps: list[float] = []
    with Stubber(dynamodb) as stub:
        stub.add_response("describe_continuous_backups", {"ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}})
        stub.add_client_error("update_continuous_backups", "ContinuousBackupsUnavailableException")
        stub.add_response("update_continuous_backups", {"ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED"}})

        assert ensure_point_in_time_recovery(dynamodb, "t", sleep=sleeps.append) == PITR_ENABLED
        stub.assert_no_pending_responses()
    assert sleeps == [5]


class FakeChalice:
    """Does what `chalice deploy` does that the next step depends on: the function exists."""

    def __init__(self):
        self.commands: list[list[str]] = []

    def __call__(self, argv, env):
        self.commands.append(list(argv[-3:]))
        if argv[-3] != "deploy":
            return
        function = f"order-pipeline-{argv[-1]}-on_csv_uploaded"
        role = aws.client("iam").create_role(RoleName=function,
                                             AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("app.py", "")
        aws.client("lambda").create_function(
            FunctionName=function, Runtime="python3.11",
            Role=role, Handler="app.on_csv_uploaded", Code={"ZipFile": package.getvalue()})


def test_deploy_provisions_deploys_and_sends_failed_events_to_the_dead_letter_queue(moto):
    chalice = FakeChalice()
    lines: list[str] = []

    code = main(["deploy", "--stage", "dev"], environ=ENVIRON, runner=chalice, out=lines.append)

    assert code == 0, lines
    assert chalice.commands == [["deploy", "--stage", "dev"]]
    settings = Settings.for_stage("dev")
    assert pitr_status(settings.table_name) == "ENABLED"
    config = aws.client("lambda").get_function_event_invoke_config(
        FunctionName="order-pipeline-dev-on_csv_uploaded")
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (2, 21600)
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == \
        "arn:aws:sqs:us-east-1:123456789012:order-pipeline-dev-dead-letter"
    assert "    point-in-time recovery: enabled" in lines


def test_a_destination_the_role_cannot_reach_yet_is_retried_then_explained(aws_credentials):
    client = boto3.session.Session().client("lambda", region_name="us-east-1")
    stage = load_stage("dev")
    sleeps: list[float] = []
    refusal = ("InvalidParameterValueException",
               "The function's execution role does not have permissions to call SendMessage")
    with Stubber(client) as stub:
        stub.add_client_error("put_function_event_invoke_config", *refusal)
        stub.add_response("put_function_event_invoke_config", {})
        put_event_invoke_config(client, stage, "arn:aws:sqs:us-east-1:1:dlq", sleep=sleeps.append)
        for _ in range(10):
            stub.add_client_error("put_function_event_invoke_config", *refusal)
        with pytest.raises(DeployError, match="The role needs sqs:SendMessage on it"):
            put_event_invoke_config(client, stage, "arn:aws:sqs:us-east-1:1:dlq", sleep=sleeps.append)
    assert len(sleeps) == 1 + 9


def provisioned_dev() -> Settings:
    settings = Settings.for_stage("dev")
    provision(settings, aws.client("s3"), aws.client("dynamodb"), aws.client("sqs"))
    return settings


def test_destroy_stops_at_a_bucket_with_files_saying_what_is_in_it(moto, capsys):
    settings = provisioned_dev()
    s3 = aws.client("s3")
    s3.put_object(Bucket=settings.ingest_bucket, Key="orders_1.csv", Body=b"order_id\n")
    s3.put_object(Bucket=settings.ingest_bucket, Key="reports/1/batch.json", Body=b"{}")
    chalice = FakeChalice()

    code = main(["destroy", "--stage", "dev", "--confirm", "delete-data"], environ=ENVIRON,
                runner=chalice, out=lambda _: None)

    error = capsys.readouterr().err
    assert code == 1 and chalice.commands == []  # not even the app was deleted
    assert "bucket order-pipeline-dev-ingest is not empty: 2 object(s), 11 bytes " \
           "((top level) 1, reports/ 1)" in error
    assert "orders_1.csv" in error and "Nothing was deleted" in error
    aws.client("dynamodb").describe_table(TableName=settings.table_name)  # still there


def test_destroy_without_confirmation_keeps_every_data_resource(moto):
    settings = provisioned_dev()
    chalice = FakeChalice()

    code = main(["destroy", "--stage", "dev"], environ=ENVIRON, runner=chalice, out=lambda _: None)

    assert code == 0 and chalice.commands == [["delete", "--stage", "dev"]]
    aws.client("s3").head_bucket(Bucket=settings.ingest_bucket)
    aws.client("dynamodb").describe_table(TableName=settings.table_name)
    assert len(aws.client("sqs").list_queues()["QueueUrls"]) == 2


def test_destroy_with_confirmation_deletes_empty_data_resources_and_is_repeatable(moto):
    settings = provisioned_dev()
    deployment = Deployment(load_stage("dev"), Target("us-east-1", ""), runner=FakeChalice(),
                            environ={}, out=lambda _: None)

    for _ in range(2):  # the second run finds nothing left, and says so
        for step in deployment.destroy_plan(delete_data=True):
            step.run()

    assert aws.client("sqs").list_queues().get("QueueUrls", []) == []
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert settings.ingest_bucket not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]


# --- a bare `chalice deploy`: functions without the stage's data resources -------------
def test_a_function_whose_table_was_never_made_says_which_command_makes_it(sandbox):
    from chalicelib.errors import MissingResourceError, missing_resource
    aws.client("dynamodb").delete_table(TableName=sandbox.settings.table_name)
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket, Key="orders_1.csv", Body=b"x")

    with pytest.raises(MissingResourceError) as raised:
        sandbox.deliver("orders_1.csv")

    # The sandbox's stage: the sandbox puts it back.
    assert "a table of stage 'local' does not exist" in str(raised.value)
    assert "`make local-up` puts the sandbox's table, queues and buckets back" in str(raised.value)
    # A deployed stage: the deploy makes it.
    said = str(missing_resource(raised.value.__cause__, "dev"))
    assert "`make deploy STAGE=dev`, which a bare `chalice deploy` does not do" in said
    assert "`chalice deploy --stage dev` is enough for code changes" in said


def test_a_function_whose_queue_was_never_made_says_which_command_makes_it(sandbox):
    from chalicelib import wiring
    from chalicelib.errors import MissingResourceError
    sandbox.sqs.delete_queue(QueueUrl=sandbox.resources.output_queue_url)
    wiring.clear_cache()  # a cold start: the pipeline looks the queue up again
    sandbox.s3.put_object(Bucket=sandbox.settings.ingest_bucket, Key="orders_1.csv", Body=b"x")

    with pytest.raises(MissingResourceError, match="a queue of stage 'local' does not exist.*make local-up"):
        sandbox.deliver("orders_1.csv")
