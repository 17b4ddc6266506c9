"""`make local-status`: what runs where, the stage's resources, and the runner's environments."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from chalicelib import aws
from chalicelib.config import Settings
from scripts.sandbox.lifecycle import RUNNER_MODULE, is_alive
from scripts.sandbox.processes import pid_alive
from scripts.sandbox.state import TO_FUNCTION, TO_RUNNER, load_state, sandbox_dir


@dataclass(frozen=True)
class Resource:
    """A bucket, table or queue the stage needs on the emulator."""

    kind: str   # "bucket", "table" or "queue"
    label: str  # how `make local-status` names it
    name: str


def stage_resources(settings: Settings) -> list[Resource]:
    """Every bucket, table and queue the stage needs: what `make local-status` checks."""
    from scripts.sandbox.runner import events_queue_name
    resources = [Resource("bucket", "bucket", settings.ingest_bucket),
                 Resource("bucket", "results bucket", settings.results_bucket)]
    resources.append(Resource("table", "table", settings.table_name))
    resources += [Resource("queue", label, name) for label, name in (
        ("events queue", events_queue_name(settings)),
        ("output queue", settings.output_queue_name),
        ("dead-letter queue", settings.dead_letter_queue_name))]
    # One row per resource, even where two settings name the same one.
    unique = {}
    for resource in resources:
        unique.setdefault((resource.kind, resource.name), resource)
    return list(unique.values())


# What each service answers for a resource that does not exist.
_NOT_FOUND = {"404", "NoSuchBucket", "NotFound", "ResourceNotFoundException",
              "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def describe_resource(resource: Resource, s3, dynamodb, sqs) -> str | None:
    """The resource as status shows it, or None when it is missing on the emulator."""
    from botocore.exceptions import ClientError
    try:
        if resource.kind == "bucket":
            s3.head_bucket(Bucket=resource.name)
            return f"s3://{resource.name}"
        if resource.kind == "table":
            dynamodb.describe_table(TableName=resource.name)
            return resource.name
        url = sqs.get_queue_url(QueueName=resource.name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return (f"{attrs['ApproximateNumberOfMessages']} waiting, "
                f"{attrs['ApproximateNumberOfMessagesNotVisible']} in flight  {url}")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
            return None
        raise


def aligned(rows: list[tuple[str, str]]) -> list[str]:
    """``label:  value`` lines, the values in one column."""
    width = max(len(label) for label, _ in rows) + 3  # the colon, then two spaces at least
    return [f"{label + ':':<{width}}{value}".rstrip() for label, value in rows]


def environment_rows(path) -> list[tuple[str, str]]:
    """The runner's execution environments, function by function, as the runner last wrote them."""
    try:
        functions = json.loads(path.read_text()).get("functions", [])
    except (FileNotFoundError, json.JSONDecodeError):
        functions = []
    if not functions:
        return [("environments", "none yet (one starts with the first event)")]
    rows = []
    for pool in functions:
        environments = pool["environments"]
        busy = sum(1 for e in environments if e["state"] == "busy")
        rows.append(("environments", f"{len(environments)} of {pool['concurrency']} for {pool['function']} "
                                     f"({busy} busy, {len(environments) - busy} warm); timeout "
                                     f"{pool['timeout_seconds']:g} s, memory {pool['memory_mb']} MB"))
        rows += [(f"  {e['id']}", f"{e['state']}, pid {e['pid']}, {e['invocations']} invocations, "
                                  f"started {e['started']}, init {e['init_ms']:.0f} ms")
                 for e in environments]
    return rows


def status() -> int:
    state = load_state()
    if state is None:
        print("Sandbox is not running. Start it with: make local-up")
        return 1
    emulator = is_alive(state)
    runner = pid_alive(state.runner_pid, RUNNER_MODULE)
    managed = {"embedded": f"pid {state.emulator_pid}; log {sandbox_dir() / 'emulator.log'}",
               "localstack": "docker compose; logs: docker compose -p order-pipeline-sandbox logs",
               "external": "started elsewhere; not stopped by make local-down"}[state.mode]
    rows = [("mode", f"{state.mode} (stage {state.stage}), started {state.started_at}"),
            ("emulator", f"{'running' if emulator else 'NOT RUNNING'} at {state.endpoint} ({managed})")]
    if state.delivery == TO_RUNNER:
        rows.append(("S3 events", f"to the local runner, {'running' if runner else 'NOT RUNNING'} "
                                  f"(pid {state.runner_pid}; log {sandbox_dir() / 'runner.log'})"))
        if runner:
            rows += environment_rows(sandbox_dir() / "environments.json")
    else:
        rows.append(("S3 events", "to the function deployed in LocalStack "
                                  "(make local-deliver TO=runner for the local runner)"))
    missing = []
    resources = stage_resources(Settings.for_stage(state.stage))
    if emulator:
        os.environ.update(state.client_env)
        clients = (aws.client("s3"), aws.client("dynamodb"), aws.client("sqs"))
        for resource in resources:
            shown = describe_resource(resource, *clients)
            if shown is None:
                missing.append(resource)
            rows.append((resource.label, shown or f"MISSING  {resource.name}"))
    else:
        rows += [(r.label, f"{r.name} (not checked: the emulator is not running)") for r in resources]
    for line in aligned(rows):
        print(line)
    for resource in missing:
        print(f"missing: {resource.kind} {resource.name} — run `make local-up` to put it back")
    return 0 if emulator and not missing and (runner or state.delivery == TO_FUNCTION) else 1

