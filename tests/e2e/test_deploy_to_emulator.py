"""`make deploy STAGE=local` and `make destroy STAGE=local`, for real, against the embedded sandbox.

The deploy's steps (provision, `chalice deploy`, the asynchronous invocation
settings) run as a user runs them, and everything they leave is read back
from the emulator and compared with what `.chalice/config.json` and the
stage's policy file say. moto stores Lambda functions but cannot run them
without Docker, so the local event runner still handles the bucket's events
after the deploy. `chalice package` builds the package `chalice deploy` uploads, which
must fit Lambda's limits.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.config import stage_environment
from tests.conftest import DATA_DIR, PROJECT_DIR, SAMPLE_BATCH, assert_sample_messages
from tests.e2e.conftest import RunningSandbox, free_port, run

STAGE = "local"
CONFIG = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
EVENT_FUNCTION = f"order-pipeline-{STAGE}-on_csv_uploaded"
API_FUNCTION = f"order-pipeline-{STAGE}"
DEPLOYED_RECORD = PROJECT_DIR / ".chalice" / "deployed" / f"{STAGE}.json"


# `chalice deploy` and `chalice package` build into the project's .chalice/deployments
# (not atomically): the tests that run them live in this one module, which runs on one
# worker at a time.
def make(sandbox: RunningSandbox, target: str) -> str:
    # Not `eval "$(make -s local-env)"` first: STAGE=local finds the running sandbox itself.
    result = run(["make", "--no-print-directory", target, f"STAGE={STAGE}"], sandbox.base_env)
    return result.stdout


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    if DEPLOYED_RECORD.exists() and json.loads(DEPLOYED_RECORD.read_text()).get("resources"):
        pytest.fail(f"{DEPLOYED_RECORD} exists: a deployment of stage {STAGE} is on record; "
                    f"`make destroy STAGE={STAGE}` it (or delete the file) before this test")
    sandbox = RunningSandbox(tmp_path_factory.mktemp("deploy"), free_port())
    try:
        with sandbox.started():
            output = make(sandbox, "deploy")
            yield sandbox, output
    finally:
        DEPLOYED_RECORD.unlink(missing_ok=True)


def test_the_deployed_function_has_the_stage_s_runtime_limits_and_environment(deployed):
    sandbox, output = deployed
    lam = sandbox.client("lambda")
    function = lam.get_function_configuration(FunctionName=EVENT_FUNCTION)
    stage = CONFIG["stages"][STAGE]

    python = (PROJECT_DIR / ".python-version").read_text().strip()
    assert function["Runtime"] == f"python{python}"  # the one Python of the project
    assert function["Handler"] == "app.on_csv_uploaded"
    assert (function["MemorySize"], function["Timeout"]) == (
        stage["lambda_memory_size"], stage["lambda_timeout"])
    assert lam.get_function_concurrency(FunctionName=EVENT_FUNCTION)["ReservedConcurrentExecutions"] == \
        stage["lambda_functions"]["on_csv_uploaded"]["reserved_concurrency"]
    assert function["Environment"]["Variables"] == stage_environment(STAGE)
    routes = lam.get_function_configuration(FunctionName=API_FUNCTION)
    assert (routes["Timeout"], routes["Runtime"]) == (300, f"python{python}")


def test_failed_events_are_retried_then_sent_to_the_dead_letter_queue(deployed):
    sandbox, _ = deployed
    invoke = sandbox.client("lambda").get_function_event_invoke_config(FunctionName=EVENT_FUNCTION)
    settings = CONFIG["stages"][STAGE]["async_invocation"]
    dead_letter = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=sandbox.env["DEAD_LETTER_QUEUE_URL"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    assert invoke["MaximumRetryAttempts"] == settings["maximum_retry_attempts"]
    assert invoke["MaximumEventAgeInSeconds"] == settings["maximum_event_age_seconds"]
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == dead_letter


def test_s3_may_invoke_the_function_and_the_bucket_notifies_it(deployed):
    sandbox, _ = deployed
    lam = sandbox.client("lambda")
    arn = lam.get_function_configuration(FunctionName=EVENT_FUNCTION)["FunctionArn"]
    [statement] = json.loads(lam.get_policy(FunctionName=EVENT_FUNCTION)["Policy"])["Statement"]
    notification = sandbox.client("s3").get_bucket_notification_configuration(
        Bucket=sandbox.env["INGEST_BUCKET"])

    assert (statement["Action"], statement["Principal"]) == ("lambda:InvokeFunction",
                                                            {"Service": "s3.amazonaws.com"})
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:s3:::{sandbox.env['INGEST_BUCKET']}")
    assert [(c["LambdaFunctionArn"], c["Events"]) for c in notification["LambdaFunctionConfigurations"]] == [
        (arn, ["s3:ObjectCreated:*"])]


def test_the_function_s_role_has_exactly_the_stage_s_policy(deployed):
    sandbox, _ = deployed
    iam = sandbox.client("iam")
    role = sandbox.client("lambda").get_function_configuration(
        FunctionName=EVENT_FUNCTION)["Role"].rsplit("/", 1)[1]
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)

    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    assert document == json.loads((PROJECT_DIR / ".chalice" / "policy-local.json").read_text())


def test_the_rest_api_has_the_app_s_routes_and_chalice_asks_for_iam_authorization(deployed):
    sandbox, _ = deployed
    apigateway = sandbox.client("apigateway")
    [api] = [a for a in apigateway.get_rest_apis()["items"] if a["name"] == "order-pipeline"]
    methods = {(r["path"], method) for r in apigateway.get_resources(restApiId=api["id"])["items"]
               for method in r.get("resourceMethods", {})}

    assert methods == {("/batches/{batch_id}", "GET"), ("/batches/{batch_id}/customers/{customer_id}", "GET"),
                       ("/batches/{batch_id}/publish", "POST")}
    # moto does not keep the authorization: read it from the document Chalice sends.
    from chalice.deploy.swagger import SwaggerGenerator

    from scripts.sandbox.worker import load_app
    handler = sandbox.client("lambda").get_function_configuration(FunctionName=API_FUNCTION)
    document = SwaggerGenerator("us-east-1", {"api_handler_arn": handler["FunctionArn"]}).generate_swagger(
        load_app(STAGE, str(PROJECT_DIR)))
    assert document["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert all(operation["security"] == [{"sigv4": []}]
               for path in document["paths"].values() for operation in path.values())


def test_s3_events_still_reach_the_local_runner_after_the_deploy(deployed):
    sandbox, output = deployed
    assert "moto cannot run a Lambda function without Docker" in output
    for kind in ("customers", "orders", "items"):
        sandbox.awslocal("s3", "cp", str(DATA_DIR / f"{kind}_{SAMPLE_BATCH}.csv"),
                         f"s3://{sandbox.env['INGEST_BUCKET']}/after-deploy/")
    assert_sample_messages(sandbox.receive(3), SAMPLE_BATCH)


def test_destroy_removes_the_functions_roles_api_and_notification_and_keeps_the_data(deployed):
    sandbox, _ = deployed
    roles_before = {r["RoleName"] for r in sandbox.client("iam").list_roles()["Roles"]}
    assert f"order-pipeline-{STAGE}-on_csv_uploaded" in roles_before

    make(sandbox, "destroy")

    lam, iam = sandbox.client("lambda"), sandbox.client("iam")
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == []
    assert not any(r["RoleName"].startswith(f"order-pipeline-{STAGE}") for r in iam.list_roles()["Roles"])
    assert sandbox.client("apigateway").get_rest_apis()["items"] == []
    notification = sandbox.client("s3").get_bucket_notification_configuration(
        Bucket=sandbox.env["INGEST_BUCKET"])
    assert "LambdaFunctionConfigurations" not in notification
    assert sandbox.client("dynamodb").describe_table(TableName=sandbox.env["TABLE_NAME"])  # data kept


def test_the_real_deployment_package_fits_lambda_s_limits(tmp_path):
    """`chalice package` builds what `chalice deploy` uploads: it must fit Lambda's limits."""
    out = tmp_path / "package"
    subprocess.run([str(Path(sys.executable).with_name("chalice")), "package", "--pkg-format",
                    "terraform", "--stage", "dev", str(out)],
                   cwd=PROJECT_DIR, check=True, capture_output=True, timeout=300,
                   env={**os.environ, "CHALICE_STAGE": "dev", "AWS_DEFAULT_REGION": "us-east-1"})
    package = out / "deployment.zip"
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        unzipped = sum(info.file_size for info in archive.infolist())
    zipped = package.stat().st_size
    print(f"deployment package: {zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped")

    assert zipped < 50 * 1024 ** 2 and unzipped < 250 * 1024 ** 2  # Lambda's limits for a direct upload
    assert {"app.py", "chalice/app.py", "chalicelib/pipeline.py", "boto3/__init__.py"} <= set(names)
    assert not any(name.split("/")[0] in ("moto", "pytest", "hypothesis", "awscli", "tests", "scripts")
                   for name in names)  # nothing of the development venv or the tooling
    terraform = json.loads((out / "chalice.tf.json").read_text())
    runtimes = {f["runtime"] for f in terraform["resource"]["aws_lambda_function"].values()}
    assert runtimes == {f"python{(PROJECT_DIR / '.python-version').read_text().strip()}"}
