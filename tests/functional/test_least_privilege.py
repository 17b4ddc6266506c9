"""The stage's IAM policy grants what the app calls, on exactly its resources, and no more.

For each stage, the app is driven down every path (a published batch, a
rejected file and its report, an unknown key, an identical and a changed
re-upload, a superseded event, an oversized message, every HTTP route) while
every AWS call it makes is recorded as an (IAM action, resource ARN) pair.
Recording is on only around the app's invocations, never around the test's
own uploads. Then: every call is granted by `.chalice/policy-<stage>.json`,
nothing is granted by a wildcard action or `Resource: "*"` (X-Ray aside), and
every grant was used, but for the documented exceptions below.

ARNs: the policy files write the stage's region and `*` for the account (the
account is not known until deploy, Chalice does not template policy files, and
an identity policy cannot reach another account's resources by itself). The
recorded calls are turned into ARNs with the region the test runs in (the
policy's) and moto's account, 123456789012.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import aws, wiring
from scripts.stage.config import Stage, load_stage
from scripts.stage.policy import (
    action_matches,
    allows,
    policy_statements,
    regions_named,
    resource_matches,
    wildcard_problems,
)
from scripts.stage.provision import provision
from tests.conftest import PROJECT_DIR, SAMPLE_BATCH, sample_bytes
from tests.functional.conftest import Sandbox

MOTO_ACCOUNT = "123456789012"
# API operations whose IAM action has another name; all others are service:Operation.
IAM_ACTION_OF = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
}


def requested(service: str, operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs one API call is authorized against."""
    action = IAM_ACTION_OF.get((service, operation), f"{service}:{operation}")
    if service == "s3":
        key = f"/{params['Key']}" if "Key" in params else ""
        return [(action, f"arn:aws:s3:::{params['Bucket']}{key}")]
    if service == "dynamodb" and operation == "TransactWriteItems":
        # IAM authorizes each item of a transaction as its own action.
        item_action = {"ConditionCheck": "ConditionCheckItem", "Update": "UpdateItem",
                       "Put": "PutItem", "Delete": "DeleteItem"}
        return [(f"dynamodb:{item_action[kind]}",
                 f"arn:aws:dynamodb:{region}:{MOTO_ACCOUNT}:table/{request['TableName']}")
                for item in params["TransactItems"] for kind, request in item.items()]
    if service == "dynamodb":
        tables = params["RequestItems"] if "RequestItems" in params else [params["TableName"]]
        index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
        return [(action, f"arn:aws:dynamodb:{region}:{MOTO_ACCOUNT}:table/{table}{index}")
                for table in tables]
    if service == "sqs":
        name = params.get("QueueName") or params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        return [(action, f"arn:aws:sqs:{region}:{MOTO_ACCOUNT}:{name}")]
    raise AssertionError(f"no rule for the resources of {service}:{operation}: add one to requested()")


def exceptions(stage: Stage, region: str) -> dict[tuple[str, str], str]:
    """Grants the app's code never calls, and why each is needed all the same."""
    why = {
        ("s3:ListBucket", f"arn:aws:s3:::{stage.settings.ingest_bucket}"):
            "never called; without it S3 answers a GetObject of a missing key with 403 "
            "AccessDenied instead of 404 NoSuchKey, which the superseded-event path relies on",
        ("s3:ListBucket", f"arn:aws:s3:::{stage.settings.results_bucket}"):
            "never called; the same for reports.read() of a report that is not there",
        ("sqs:SendMessage", stage.sqs_arn(stage.settings.dead_letter_queue_name, region, "*")):
            "Lambda sends a failed event to the on-failure destination with the function's role",
    }
    for function in (stage.event_function, stage.api_function):
        log_group = stage.log_group_arn(function, region, "*")
        for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"):
            for resource in (log_group, log_group + ":*"):
                why[(action, resource)] = "Lambda writes the function's logs with its role"
    if stage.xray:
        for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
            why[(action, "*")] = ("the X-Ray daemon in Lambda sends the traces with the function's "
                                  "role; X-Ray has no resource-level permissions, so \"*\"")
    return why


@dataclass
class AppCalls:
    """The AWS calls of the app, recorded only inside ``recording()``."""

    region: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    watched: list[tuple[str, str]] = field(default_factory=list)     # calls seen with their parameters
    operations: list[tuple[str, str]] = field(default_factory=list)  # as chalicelib/aws.py reports them
    _on: bool = False

    def watch(self, services=("s3", "dynamodb", "sqs")):
        # aws.client() caches one client per service: the app's calls go through these.
        for service in services:
            aws.client(service).meta.events.register(
                "before-parameter-build", functools.partial(self._on_params, service))
        return aws.on_api_call(self._on_call)

    def _on_params(self, service, params, model, **_):
        if self._on:
            self.watched.append((service, model.name))
            self.pairs += requested(service, model.name, params, self.region)

    def _on_call(self, service, operation):
        if self._on:
            self.operations.append((service, operation))

    @contextlib.contextmanager
    def recording(self):
        self._on = True
        try:
            yield
        finally:
            self._on = False


@dataclass
class Driver:
    """Drives the app as S3 and API Gateway would, recording only the app's calls."""

    sandbox: Sandbox
    calls: AppCalls
    routes: set[tuple[str, str]] = field(default_factory=set)

    def upload(self, key: str, body: bytes) -> dict:
        self.sandbox.s3.put_object(Bucket=self.sandbox.settings.ingest_bucket, Key=key, Body=body)
        return self.deliver(self.sandbox.event_for(key))

    def deliver(self, event: dict) -> dict:
        with self.calls.recording():
            return self.sandbox.client.lambda_.invoke("on_csv_uploaded", event).payload

    def http(self, method: str, route: str, query: str = "", **params) -> int:
        self.routes.add((method, route))
        with self.calls.recording():
            response = getattr(self.sandbox.client.http, method.lower())(
                route.format(**params) + query)
        return response.status_code


@pytest.fixture(params=["local", "dev"])
def stage_run(request, aws_credentials, monkeypatch):
    stage = load_stage(request.param)
    (region,) = regions_named(stage.policy)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    with mock_aws():
        wiring.clear_cache()
        resources = provision(stage.settings, aws.client("s3"), aws.client("dynamodb"),
                              aws.client("sqs"))
        from app import app
        with Client(app, stage_name=stage.name, project_dir=str(PROJECT_DIR)) as client:
            calls = AppCalls(region)
            stop = calls.watch()
            try:
                yield stage, region, app, Driver(Sandbox(stage.settings, resources, client), calls)
            finally:
                stop()
        wiring.clear_cache()


def drive_every_path(driver: Driver) -> None:
    """Each path of the app once, checking it took the path it is here for."""
    sandbox = driver.sandbox
    # Harness: a low size limit sends the big customer below through S3.
    sandbox.sqs.set_queue_attributes(QueueUrl=sandbox.resources.output_queue_url,
                                     Attributes={"MaximumMessageSize": "1024"})

    for kind in ("customers", "orders", "items"):
        outcome = driver.upload(f"incoming/{kind}_{SAMPLE_BATCH}.csv", sample_bytes(kind))
    assert outcome["published_revision"] == 1, outcome

    rejected = driver.upload("orders_rej.csv", b"order_id,customer_id\n1,1\n")
    assert rejected["status"] == "rejected" and rejected["report_key"] == "reports/rej/orders_rej.csv.json"
    assert driver.http("GET", "/batches/{batch_id}", batch_id="rej") == 200  # reads the report
    driver.upload("customers_rej.csv", b"customer_id,customer_name\n1,A\n")
    driver.upload("items_rej.csv", b"item_id,order_id\n9,1\n")
    corrected = driver.upload("orders_rej.csv", b"order_id,customer_id,amount\n1,1,2.00\n")
    assert corrected["published_revision"] == 1, corrected  # and its report deleted

    unknown = driver.upload("readme.txt", b"a,b\n")
    assert unknown["report_key"] == "unknown-names/readme.txt.json", unknown
    misnamed = driver.upload("customers_big.CSV", b"customer_id,customer_name\n1,Big\n")
    assert misnamed["report_key"] == "reports/big/customers_big.CSV.json", misnamed

    same = driver.upload(f"incoming/customers_{SAMPLE_BATCH}.csv", sample_bytes("customers"))
    assert same["status"] == "duplicate", same

    stale = sandbox.event_for(f"incoming/orders_{SAMPLE_BATCH}.csv")
    changed = driver.upload(f"incoming/orders_{SAMPLE_BATCH}.csv",
                            sample_bytes("orders").replace(b"250.00", b"251.00"))
    assert changed["published_revision"] == 2, changed
    assert driver.deliver(stale)["status"] == "superseded"

    big_orders = "".join(f"o{n},1,1.00\n" for n in range(40))
    driver.upload("customers_big.csv", b"customer_id,customer_name\n1,Big\n")  # forgets the .CSV
    driver.upload("orders_big.csv", ("order_id,customer_id,amount\n" + big_orders).encode())
    big = driver.upload("items_big.csv", ("item_id,order_id\n" + "".join(
        f"i{n},o{n}\n" for n in range(40))).encode())
    assert big["published_revision"] == 1, big

    folder = "?folder=incoming"
    assert driver.http("GET", "/batches/{batch_id}", folder, batch_id=SAMPLE_BATCH) == 200
    assert driver.http("GET", "/batches/{batch_id}", batch_id="19990101") == 404
    assert driver.http("GET", "/batches/{batch_id}/customers/{customer_id}", folder,
                       batch_id=SAMPLE_BATCH, customer_id="1") == 200
    assert driver.http("POST", "/batches/{batch_id}/publish", folder, batch_id=SAMPLE_BATCH) == 200


def test_every_call_of_every_path_is_granted_and_every_grant_is_used(stage_run):
    stage, region, app, driver = stage_run

    drive_every_path(driver)

    calls = driver.calls
    declared_routes = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert driver.routes == declared_routes, "drive every route of app.py in drive_every_path()"
    assert [source.name for source in app.event_sources] == ["on_csv_uploaded"], \
        "a new event handler: drive it in drive_every_path()"
    assert calls.operations and sorted(calls.watched) == sorted(calls.operations), \
        "a call went through a client the test does not watch: watch its service in AppCalls"
    assert ("s3:PutObject", f"arn:aws:s3:::{stage.settings.results_bucket}/payloads/big/1/1.json") \
        in calls.pairs, "the oversized message did not go through S3"

    denied = sorted({pair for pair in calls.pairs if not allows(stage.policy, *pair)})
    assert denied == [], f"{stage.policy_path.name} does not grant what the app calls: {denied}"

    unused = {(action, resource)
              for statement in policy_statements(stage.policy)
              for action in statement["Action"] for resource in statement["Resource"]
              if not any(action_matches(action, a) and resource_matches(resource, r)
                         for a, r in calls.pairs)}
    documented = exceptions(stage, region)
    assert sorted(unused - set(documented)) == [], \
        f"{stage.policy_path.name} grants what the app never calls: remove it or document why"
    assert sorted(set(documented) - unused) == [], \
        "a documented exception is now called or no longer granted: update exceptions()"


@pytest.mark.parametrize("stage_name", ["local", "dev"])
def test_the_policy_has_no_wildcard_grants_and_xray_only_where_tracing_is_on(stage_name):
    stage = load_stage(stage_name)

    assert wildcard_problems(stage.policy) == []
    assert not stage.autogen_policy
    xray_granted = any(allows(stage.policy, action, "*")
                       for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"))
    assert xray_granted == stage.xray == (stage_name == "dev")


def test_batch_operations_are_authorized_as_their_single_action():
    entries = {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/out", "Entries": []}

    assert requested("sqs", "SendMessageBatch", entries, "eu-west-1") == [
        ("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:out")]
    assert requested("dynamodb", "BatchWriteItem", {"RequestItems": {"t1": [], "t2": []}}, "r") == [
        ("dynamodb:BatchWriteItem", "arn:aws:dynamodb:r:123456789012:table/t1"),
        ("dynamodb:BatchWriteItem", "arn:aws:dynamodb:r:123456789012:table/t2")]
    assert requested("s3", "GetObject", {"Bucket": "b", "Key": "reports/x.json"}, "r") == [
        ("s3:GetObject", "arn:aws:s3:::b/reports/x.json")]
