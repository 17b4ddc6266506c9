"""The deploy and destroy plans of one stage, their steps, and ``run_plan``.

A deploy provisions the data resources (provision.py), runs `chalice deploy`,
then sets how Lambda retries the S3 handler's events and where it sends the
ones that fail. A destroy runs `chalice delete` and, only when told to, deletes
the data resources once their buckets are empty. Every step has a title that
names each resource, so that a dry run prints the whole plan and calls nothing.
The command runner and the AWS clients are injected, so the plans are tested
without chalice or AWS. The steps are methods of one ``Deployment`` because
they share what an earlier step found (the dead-letter queue's ARN).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws
from scripts.stage.config import Stage, Target
from scripts.stage.errors import DeployError
from scripts.stage.provision import provision, queue_arn

# What `make destroy` needs to be told before it deletes data.
DELETE_DATA = "delete-data"
# IAM changes reach Lambda a few seconds after chalice created the role.
_DESTINATION_ATTEMPTS = 10
_DESTINATION_DELAY_SECONDS = 3.0

Runner = Callable[[Sequence[str], Mapping[str, str]], None]
# Any: a boto3 client's methods are generated at run time, so there is no type to name.
Clients = Callable[[str], Any]


def run_command(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Run a command with its output on this terminal; raise if it fails."""
    completed = subprocess.run(list(argv), env=dict(env), check=False)
    if completed.returncode != 0:
        raise DeployError(f"`{' '.join(argv)}` failed with exit code {completed.returncode} (its "
                          f"output is above); the steps after it did not run")


def chalice_command(*args: str) -> list[str]:
    # The chalice of this virtualenv, the version the tests ran with.
    beside_python = Path(sys.executable).with_name("chalice")
    return [str(beside_python) if beside_python.exists() else "chalice", *args]


@dataclass(frozen=True)
class Step:
    title: str
    run: Callable[[], None]


class Deployment:
    """The steps of a deploy or destroy of one stage, and what they share."""

    def __init__(self, stage: Stage, target: Target, runner: Runner = run_command,
                 clients: Clients = aws.client, environ: Mapping[str, str] | None = None,
                 out: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep):
        self.stage = stage
        self.target = target
        self._runner = runner
        self._clients = clients
        self._environ = dict(os.environ if environ is None else environ)
        self._out = out
        self._sleep = sleep
        self._dead_letter_arn = ""

    # -- deploy ----------------------------------------------------------------
    def deploy_plan(self) -> list[Step]:
        s, stage = self.stage.settings, self.stage
        return [
            Step(f"provision in {self.target.describe()}:\n"
                 f"      buckets {s.ingest_bucket} and {s.results_bucket} (public access "
                 f"blocked, SSE-S3 encryption)\n"
                 f"      table {s.table_name} (on demand, point-in-time recovery, row chunks "
                 f"expire after {s.row_retention_days} days by TTL)\n"
                 f"      queue {s.dead_letter_queue_name} (14 days), queue {s.output_queue_name} "
                 f"(14 days, to {s.dead_letter_queue_name} after 5 receives)", self._provision),
            Step(f"chalice deploy --stage {stage.name}:\n"
                 f"      functions {stage.event_function} (S3 events of {s.ingest_bucket}) and "
                 f"{stage.api_function} (the HTTP routes, IAM-authorized)\n"
                 f"      one role per function with {stage.policy_path.name}; X-Ray "
                 f"{'on' if stage.xray else 'off'}", self._chalice_deploy),
            Step(f"asynchronous invocation of {stage.event_function}: "
                 f"MaximumRetryAttempts={stage.max_retry_attempts}, "
                 f"MaximumEventAgeInSeconds={stage.max_event_age_seconds}, "
                 f"on failure to {stage.settings.dead_letter_queue_name}", self._event_invoke_config),
        ]

    def _provision(self) -> None:
        clients = self._clients
        resources = provision(self.stage.settings, clients("s3"), clients("dynamodb"), clients("sqs"),
                              point_in_time_recovery=True, sleep=self._sleep)
        self._dead_letter_arn = queue_arn(clients("sqs"), resources.dead_letter_queue_url)
        self._out(f"    point-in-time recovery: {resources.point_in_time_recovery}")

    def _chalice_deploy(self) -> None:
        self._runner(chalice_command("deploy", "--stage", self.stage.name), self._command_env())

    def _event_invoke_config(self) -> None:
        put_event_invoke_config(self._clients("lambda"), self.stage, self._dead_letter_arn, self._sleep)

    def _command_env(self) -> dict[str, str]:
        # CHALICE_STAGE: app.py's decorators name the stage's bucket (chalicelib/config.py).
        return {**self._environ, "AWS_DEFAULT_REGION": self.target.region,
                "CHALICE_STAGE": self.stage.name}

    # -- destroy ---------------------------------------------------------------
    def destroy_plan(self, delete_data: bool) -> list[Step]:
        s, stage = self.stage.settings, self.stage
        steps = []
        if delete_data:
            steps.append(Step(f"check that buckets {s.ingest_bucket} and {s.results_bucket} are "
                              f"empty (stop here, deleting nothing, if one is not)",
                              self._check_bucket_empty))
        steps.append(Step(f"chalice delete --stage {stage.name}: functions {stage.event_function} "
                          f"and {stage.api_function}, their roles, the REST API, the bucket's "
                          f"notification", self._chalice_delete))
        if delete_data:
            steps += [
                Step(f"delete table {s.table_name} (its rows and point-in-time backups)",
                     self._delete_table),
                Step(f"delete queues {s.output_queue_name} and {s.dead_letter_queue_name} "
                     f"(with any messages in them)", self._delete_queues),
                Step(f"delete buckets {s.ingest_bucket} and {s.results_bucket}",
                     self._delete_bucket),
            ]
        else:
            steps.append(Step(f"keep the data: buckets {s.ingest_bucket} and {s.results_bucket}, "
                              f"table {s.table_name}, "
                              f"queues {s.output_queue_name} and {s.dead_letter_queue_name} "
                              f"(CONFIRM={DELETE_DATA} deletes them too)", lambda: None))
        return steps

    def _chalice_delete(self) -> None:
        self._runner(chalice_command("delete", "--stage", self.stage.name), self._command_env())

    def _buckets(self) -> tuple[str, str]:
        return self.stage.settings.ingest_bucket, self.stage.settings.results_bucket

    def _check_bucket_empty(self) -> None:
        for bucket in self._buckets():
            contents = bucket_contents(self._clients("s3"), bucket)
            if contents:
                raise DeployError(contents + " Nothing was deleted. Keep what you need, empty it "
                                  f"(aws s3 rm s3://{bucket} --recursive), then run this again; "
                                  f"or leave out CONFIRM to delete only the app")

    def _delete_table(self) -> None:
        dynamodb = self._clients("dynamodb")
        try:
            dynamodb.delete_table(TableName=self.stage.settings.table_name)
        except dynamodb.exceptions.ResourceNotFoundException:
            self._out("    (there was no such table)")

    def _delete_queues(self) -> None:
        sqs = self._clients("sqs")
        for name in (self.stage.settings.output_queue_name, self.stage.settings.dead_letter_queue_name):
            try:
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except sqs.exceptions.QueueDoesNotExist:
                self._out(f"    (there was no queue {name})")
                continue
            sqs.delete_queue(QueueUrl=url)

    def _delete_bucket(self) -> None:
        s3 = self._clients("s3")
        for bucket in self._buckets():
            try:
                s3.delete_bucket(Bucket=bucket)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "NoSuchBucket":
                    raise
                self._out(f"    (there was no bucket {bucket})")


def bucket_contents(s3, bucket: str, shown: int = 5) -> str:
    """What is in the bucket, said plainly; "" when it is empty or missing."""
    count, size = 0, 0
    by_prefix: dict[str, int] = {}
    first_keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                count += 1
                size += obj["Size"]
                prefix = obj["Key"].split("/", 1)[0] + "/" if "/" in obj["Key"] else "(top level)"
                by_prefix[prefix] = by_prefix.get(prefix, 0) + 1
                if len(first_keys) < shown:
                    first_keys.append(obj["Key"])
    except s3.exceptions.NoSuchBucket:
        return ""
    if not count:
        return ""
    prefixes = ", ".join(f"{prefix} {n}" for prefix, n in sorted(by_prefix.items()))
    return (f"bucket {bucket} is not empty: {count} object(s), {size} bytes ({prefixes}); "
            f"first keys: {', '.join(first_keys)}.")


def put_event_invoke_config(lambda_client, stage: Stage, dead_letter_arn: str,
                            sleep: Callable[[float], None] = time.sleep) -> None:
    """Lambda retries a failed S3 event, then sends it to the dead-letter queue.

    The role Chalice just created may not have reached Lambda yet, and Lambda
    checks that the role may send to the destination: retry that for a while.
    """
    attempt = 1
    while True:
        try:
            lambda_client.put_function_event_invoke_config(
                FunctionName=stage.event_function,
                MaximumRetryAttempts=stage.max_retry_attempts,
                MaximumEventAgeInSeconds=stage.max_event_age_seconds,
                DestinationConfig={"OnFailure": {"Destination": dead_letter_arn}})
            return
        except lambda_client.exceptions.InvalidParameterValueException as exc:
            if "permission" not in str(exc).lower() or attempt >= _DESTINATION_ATTEMPTS:
                raise DeployError(
                    f"Lambda refused {dead_letter_arn} as the on-failure destination of "
                    f"{stage.event_function}: {exc}. The role needs sqs:SendMessage on it "
                    f"({stage.policy_path.name})") from exc
            attempt += 1
            sleep(_DESTINATION_DELAY_SECONDS)


def run_plan(steps: Sequence[Step], dry_run: bool, out: Callable[[str], None] = print) -> None:
    """Print each step's title and run it; with ``dry_run``, only print."""
    for number, step in enumerate(steps, 1):
        out(f"{number}. {step.title}")
        if not dry_run:
            step.run()
    if dry_run:
        out("(dry run: nothing was called)")
