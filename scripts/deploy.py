"""Deploys a stage to AWS and tears it down: `make deploy` and `make destroy`.

A deploy is a plan of steps: check where it goes and that the stage's IAM
policy fits it, provision the data resources (scripts/sandbox/provision.py),
`chalice deploy`, then set how Lambda retries the S3 handler's events and where
it sends the ones that fail. `--dry-run` prints the plan with every resource
name and calls nothing. The command runner and the AWS clients are injected,
so the plan is tested without chalice or AWS.

    python -m scripts.deploy deploy  --stage dev [--dry-run] [--allow-endpoint]
    python -m scripts.deploy destroy --stage dev [--dry-run] [--confirm delete-data]

This module also holds the small IAM policy matcher that the deploy checks and
the least-privilege test share (see "IAM policy matching" below).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.config import CHALICE_CONFIG, Settings, stage_environment
from chalicelib.errors import ConfigurationError, PipelineError
from scripts.sandbox.provision import provision, queue_arn

# Stages meant for an emulator (LocalStack); every other stage is an AWS stage.
EMULATOR_STAGES = frozenset({"local"})
# The S3 handler in app.py; Chalice names its function <app>-<stage>-<handler>.
S3_HANDLER = "on_csv_uploaded"
# What `make destroy` needs to be told before it deletes data.
DELETE_DATA = "delete-data"
ENDPOINT_VARIABLES_PREFIX = "AWS_ENDPOINT_URL"
# Lambda's own bounds for asynchronous invocation settings.
MAX_RETRY_ATTEMPTS = range(0, 3)
EVENT_AGE_SECONDS = range(60, 21601)
# IAM changes reach Lambda a few seconds after chalice created the role.
_DESTINATION_ATTEMPTS = 10
_DESTINATION_DELAY_SECONDS = 3.0


class DeployError(PipelineError):
    """A deploy or destroy step failed; nothing after it ran."""


# --- IAM policy matching ----------------------------------------------------
# Only what our policy files use: Allow statements with Action and Resource.
# Anything else (Deny, NotAction, Condition...) is refused, not half-evaluated.

_SUPPORTED_KEYS = {"Sid", "Effect", "Action", "Resource"}


def policy_statements(policy: Mapping) -> list[dict]:
    """The policy's statements, with Action and Resource always lists."""
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    normalised = []
    for index, statement in enumerate(statements):
        unsupported = set(statement) - _SUPPORTED_KEYS
        if unsupported or statement.get("Effect") != "Allow":
            raise ConfigurationError(
                f"statement {statement.get('Sid', index)!r} uses "
                f"{', '.join(sorted(unsupported)) or 'Effect ' + repr(statement.get('Effect'))}, "
                f"which this project's policy matcher does not evaluate: use Allow statements "
                f"with Action and Resource only")
        normalised.append({"Sid": statement.get("Sid", str(index)),
                           "Action": _as_list(statement.get("Action", [])),
                           "Resource": _as_list(statement.get("Resource", []))})
    return normalised


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` any characters, `?` one."""
    return re.fullmatch(_glob(pattern, segment_bound=False), action, re.IGNORECASE) is not None


def resource_matches(pattern: str, arn: str) -> bool:
    """IAM resource matching: case-sensitive; `*` and `?` stay within one
    colon-separated segment, except a `*` that ends a segment, which may run on
    past colons (IAM's rule: `log-group:name:*` covers its log streams)."""
    return re.fullmatch(_glob(pattern, segment_bound=True), arn) is not None


def _glob(pattern: str, segment_bound: bool) -> str:
    parts = []
    for index, char in enumerate(pattern):
        if char == "*":
            ends_segment = index + 1 == len(pattern) or pattern[index + 1] == ":"
            parts.append("[^:]*" if segment_bound and not ends_segment else ".*")
        elif char == "?":
            parts.append("[^:]" if segment_bound else ".")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


def allows(policy: Mapping, action: str, arn: str) -> bool:
    """Whether an Allow statement of ``policy`` grants ``action`` on ``arn``."""
    return any(any(action_matches(a, action) for a in statement["Action"])
               and any(resource_matches(r, arn) for r in statement["Resource"])
               for statement in policy_statements(policy))


# X-Ray's put calls have no resource-level permissions: AWS requires "*".
RESOURCE_STAR_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})


def wildcard_problems(policy: Mapping) -> list[str]:
    """Grants broader than least privilege: wildcard actions, or Resource "*"
    beside anything but X-Ray's put calls."""
    problems = []
    for statement in policy_statements(policy):
        for action in statement["Action"]:
            if "*" in action or "?" in action:
                problems.append(f"statement {statement['Sid']!r}: wildcard action {action!r}")
        if "*" in statement["Resource"]:
            others = sorted(set(statement["Action"]) - RESOURCE_STAR_ACTIONS)
            if others:
                problems.append(f"statement {statement['Sid']!r}: Resource \"*\" for "
                                f"{', '.join(others)} (only X-Ray's put calls need it)")
    return problems


def regions_named(policy: Mapping) -> set[str]:
    """The regions written in the policy's regional ARNs."""
    regions = set()
    for statement in policy_statements(policy):
        for resource in statement["Resource"]:
            fields = resource.split(":")
            if len(fields) > 3 and fields[3]:
                regions.add(fields[3])
    return regions


# --- the stage ----------------------------------------------------------------

@dataclass(frozen=True)
class Stage:
    """What a deploy of one stage needs from .chalice/config.json."""

    name: str
    app_name: str
    settings: Settings
    policy_path: Path
    policy: dict
    autogen_policy: bool
    xray: bool
    max_retry_attempts: int
    max_event_age_seconds: int

    @property
    def event_function(self) -> str:
        return f"{self.app_name}-{self.name}-{S3_HANDLER}"

    @property
    def api_function(self) -> str:
        return f"{self.app_name}-{self.name}"  # Chalice's name for the routes' function

    def table_arn(self, region: str, account: str) -> str:
        return f"arn:aws:dynamodb:{region}:{account}:table/{self.settings.table_name}"

    def sqs_arn(self, name: str, region: str, account: str) -> str:
        return f"arn:aws:sqs:{region}:{account}:{name}"

    def log_group_arn(self, function: str, region: str, account: str) -> str:
        return f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}"


def load_stage(name: str, config_path: Path = CHALICE_CONFIG) -> Stage:
    # stage_environment also says which stages exist when `name` is not one.
    settings = Settings.from_env(stage_environment(name, config_path))
    config = json.loads(config_path.read_text(encoding="utf-8"))
    stage = config["stages"][name]
    policy_path = config_path.parent / stage.get("iam_policy_file",
                                                 config.get("iam_policy_file", f"policy-{name}.json"))
    try:
        policy = json.loads(policy_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{policy_path} not found: the IAM policy of stage {name!r} "
                                 f"(autogen_policy is false, so Chalice needs it)") from exc
    invocation = stage.get("async_invocation", {})
    return Stage(
        name=name, app_name=config["app_name"], settings=settings,
        policy_path=policy_path, policy=policy,
        autogen_policy=stage.get("autogen_policy", config.get("autogen_policy", True)),
        xray=bool(stage.get("xray", config.get("xray", False))),
        max_retry_attempts=_bounded(invocation, "maximum_retry_attempts", MAX_RETRY_ATTEMPTS, name,
                                    config_path),
        max_event_age_seconds=_bounded(invocation, "maximum_event_age_seconds", EVENT_AGE_SECONDS,
                                       name, config_path))


def _bounded(section: Mapping, key: str, allowed: range, stage: str, path: Path) -> int:
    value = section.get(key)
    if not isinstance(value, int) or value not in allowed:
        raise ConfigurationError(
            f"async_invocation.{key} of stage {stage!r} in {path} must be a whole number from "
            f"{allowed.start} to {allowed.stop - 1} (Lambda's limits), got {value!r}")
    return value


# --- where a deploy goes --------------------------------------------------------

@dataclass(frozen=True)
class Target:
    region: str
    endpoint: str  # "" for AWS itself; else the emulator's URL

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Target":
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or ""
        endpoints = sorted(f"{name}={value}" for name, value in environ.items()
                           if name.startswith(ENDPOINT_VARIABLES_PREFIX) and value)
        return cls(region=region, endpoint=", ".join(endpoints))

    def describe(self) -> str:
        return f"the endpoint {self.endpoint}" if self.endpoint else f"AWS, region {self.region}"


def check_target(stage: Stage, target: Target, allow_endpoint: bool) -> None:
    """Refuse the mistakes that deploy to the wrong place."""
    if not target.region:
        raise ConfigurationError("no AWS region: set AWS_DEFAULT_REGION (make deploy REGION=...)")
    if stage.name in EMULATOR_STAGES and not target.endpoint:
        raise ConfigurationError(
            f"stage {stage.name!r} is the sandbox's stage and AWS_ENDPOINT_URL is not set, so this "
            f"would deploy it to your AWS account: start the sandbox first (make local-up; "
            f"make deploy STAGE={stage.name} then deploys into it), deploy an AWS stage "
            f"(make deploy STAGE=dev), or point AWS_ENDPOINT_URL at an emulator")
    if stage.name not in EMULATOR_STAGES and target.endpoint and not allow_endpoint:
        # Usually left over from `eval "$(make -s local-env)"` in this shell: the
        # user means AWS, and a "successful" deploy into the sandbox would mislead.
        raise ConfigurationError(
            f"stage {stage.name!r} deploys to AWS, but {target.endpoint} is set (often left over "
            f"from `eval \"$(make -s local-env)\"`): run `unset AWS_ENDPOINT_URL` first, or set "
            f"ALLOW_ENDPOINT=1 to deploy {stage.name!r} to that endpoint on purpose")


def check_policy(stage: Stage, region: str) -> None:
    """The policy file is least privilege and grants this stage's resources in ``region``."""
    where = stage.policy_path
    if stage.autogen_policy:
        raise ConfigurationError(f"stage {stage.name!r} has autogen_policy true in {CHALICE_CONFIG}: "
                                 f"set it to false so that Chalice uses {where.name}")
    other_regions = regions_named(stage.policy) - {region}
    if other_regions:
        raise ConfigurationError(
            f"{where}: its ARNs name region(s) {', '.join(sorted(other_regions))}, but the deploy "
            f"goes to {region}: write {region} in the file's ARNs, or deploy with "
            f"REGION={' '.join(sorted(other_regions))}")
    problems = wildcard_problems(stage.policy)
    problems += [f"it does not grant {action} on {arn}"
                 for action, arn in required_grants(stage, region) if not allows(stage.policy, action, arn)]
    xray_granted = any(allows(stage.policy, action, "*") for action in RESOURCE_STAR_ACTIONS)
    if xray_granted != stage.xray:
        problems.append(f"xray is {str(stage.xray).lower()} for the stage but X-Ray's put calls are "
                        f"{'' if xray_granted else 'not '}granted")
    if problems:
        raise ConfigurationError(f"{where}: " + "; ".join(problems) +
                                 f". Edit {where} (the names come from stage {stage.name!r} in "
                                 f"{CHALICE_CONFIG}); `make test` checks it against every AWS call "
                                 f"the app makes")


def required_grants(stage: Stage, region: str, account: str = "*") -> list[tuple[str, str]]:
    """One sample request per resource the stage's function uses: enough to
    catch a policy that names another bucket, table, queue or region."""
    s = stage.settings
    ingest, results = f"arn:aws:s3:::{s.ingest_bucket}", f"arn:aws:s3:::{s.results_bucket}"
    return [
        ("s3:GetObject", f"{ingest}/incoming/orders_1.csv"),
        ("s3:PutObject", f"{results}/reports/1/batch.json"),
        ("s3:PutObject", f"{results}/unknown-names/readme.txt.json"),
        ("s3:PutObject", f"{results}/payloads/1/1/1.json"),
        ("dynamodb:PutItem", stage.table_arn(region, account)),
        ("sqs:SendMessage", stage.sqs_arn(s.output_queue_name, region, account)),
        ("sqs:SendMessage", stage.sqs_arn(s.dead_letter_queue_name, region, account)),
        ("logs:PutLogEvents",
         stage.log_group_arn(stage.event_function, region, account) + ":log-stream:x"),
    ]


# --- steps -------------------------------------------------------------------------

Runner = Callable[[Sequence[str], Mapping[str, str]], None]
Clients = Callable[[str], object]


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
    count, size, by_prefix, first_keys = 0, 0, {}, []
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
    for number, step in enumerate(steps, 1):
        out(f"{number}. {step.title}")
        if not dry_run:
            step.run()
    if dry_run:
        out("(dry run: nothing was called)")


def running_sandbox() -> Mapping[str, str] | None:
    """What a client needs to reach the running sandbox (`make local-up`), or None."""
    from scripts.sandbox.processes import endpoint_answers
    from scripts.sandbox.state import load_state
    state = load_state()
    if state is None or not endpoint_answers(state.endpoint):
        return None
    return {**state.client_env, "SANDBOX_MODE": state.mode}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         runner: Runner = run_command, clients: Clients = aws.client,
         out: Callable[[str], None] = print,
         sandbox: Callable[[], Mapping[str, str] | None] = running_sandbox) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.deploy", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["deploy", "destroy"])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--dry-run", action="store_true", help="print the plan, call nothing")
    parser.add_argument("--allow-endpoint", action="store_true",
                        help="deploy an AWS stage to AWS_ENDPOINT_URL (an emulator) on purpose")
    parser.add_argument("--confirm", default="", help=f"'{DELETE_DATA}': destroy deletes the data too")
    args = parser.parse_args(argv)
    environ = dict(os.environ if environ is None else environ)
    try:
        if args.confirm not in ("", DELETE_DATA):
            raise ConfigurationError(f"CONFIRM={args.confirm!r} is not understood: "
                                     f"CONFIRM={DELETE_DATA} deletes the data resources")
        stage = load_stage(args.stage)
        emulator = ""
        if stage.name in EMULATOR_STAGES and not Target.from_environment(environ).endpoint:
            # `make deploy STAGE=local` deploys into the sandbox that runs, if one does.
            reached = sandbox()
            if reached:
                emulator = reached.get("SANDBOX_MODE", "")
                environ.update({k: v for k, v in reached.items() if k != "SANDBOX_MODE"})
                os.environ.update({k: v for k, v in reached.items() if k != "SANDBOX_MODE"})
        target = Target.from_environment(environ)
        check_target(stage, target, args.allow_endpoint)
        if args.action == "deploy":
            check_policy(stage, target.region)
        deployment = Deployment(stage, target, runner=runner, clients=clients, environ=environ, out=out)
        verb = "would deploy" if args.dry_run else "deploying"
        if args.action == "deploy":
            out(f"{verb} stage {stage.name} to {target.describe()}")
            steps = deployment.deploy_plan()
        else:
            out(f"{'would destroy' if args.dry_run else 'destroying'} stage {stage.name} in "
                f"{target.describe()}")
            steps = deployment.destroy_plan(delete_data=args.confirm == DELETE_DATA)
        run_plan(steps, args.dry_run, out)
        if args.action == "deploy" and not args.dry_run and emulator in ("embedded", "external"):
            out(f"The bucket {stage.settings.ingest_bucket} now notifies the deployed function as "
                f"well as the local event runner. moto cannot run a Lambda function without Docker "
                f"(its log says 'error running docker' for each upload), so the runner goes on "
                f"handling the events; `make destroy STAGE={stage.name}` removes the deployment.")
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
