"""What a sandbox holds: its resources, and what they hold, said before it is dropped.

The embedded emulator (and LocalStack's community image) keep everything in
memory: stopping them drops every upload, batch record and unread message.
`make local-down` says how much, so that nobody loses data without a word.
"""
from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.config import Settings
from scripts.sandbox.notifications import events_queue_name
from scripts.sandbox.wording import plural


@dataclass(frozen=True)
class Holdings:
    objects: int
    waiting_batches: int
    published_batches: int
    output_messages: int
    dead_letters: int

    def describe(self) -> str:
        unread = self.output_messages + self.dead_letters
        return (f"{plural(self.objects, 'object')} in the buckets, "
                f"{plural(self.waiting_batches, 'batch', 'batches')} not yet published and "
                f"{plural(self.published_batches, 'published batch', 'published batches')}, "
                f"{plural(unread, 'unread message')} ({self.output_messages} on the output "
                f"queue, {self.dead_letters} on the dead-letter queue)")


@dataclass(frozen=True)
class Resource:
    """A bucket, table or queue the stage needs on the emulator."""

    kind: str   # "bucket", "table" or "queue"
    label: str  # how `make local-status` names it
    name: str


def stage_resources(settings: Settings) -> list[Resource]:
    """Every bucket, table and queue the stage needs: what `make local-status` checks."""
    resources = [Resource("bucket", "bucket", settings.ingest_bucket),
                 Resource("bucket", "results bucket", settings.results_bucket)]
    resources.append(Resource("table", "table", settings.table_name))
    resources += [Resource("queue", label, name) for label, name in (
        ("events queue", events_queue_name(settings)),
        ("output queue", settings.output_queue_name),
        ("dead-letter queue", settings.dead_letter_queue_name))]
    # One row per resource, even where two settings name the same one.
    unique: dict[tuple[str, str], Resource] = {}
    for resource in resources:
        unique.setdefault((resource.kind, resource.name), resource)
    return list(unique.values())


# What each service answers for a resource that does not exist.
_NOT_FOUND = {"404", "NoSuchBucket", "NotFound", "ResourceNotFoundException",
              "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def describe_resource(resource: Resource, s3, dynamodb, sqs) -> str | None:
    """The resource as status shows it, or None when it is missing on the emulator."""
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


def missing_resources(settings: Settings, s3, dynamodb, sqs) -> list[Resource]:
    """The stage's resources that are not on the emulator (deleted by hand, or never made)."""
    return [resource for resource in stage_resources(settings)
            if describe_resource(resource, s3, dynamodb, sqs) is None]


def holdings(settings: Settings, s3, dynamodb, sqs) -> Holdings:
    """Count what the stage's resources hold (a sandbox tool may scan: the sandbox is small)."""
    objects = sum(_objects(s3, bucket) for bucket in {settings.ingest_bucket, settings.results_bucket})
    waiting, published = _batches(dynamodb, settings.table_name)
    return Holdings(objects, waiting, published,
                    _messages(sqs, settings.output_queue_name),
                    _messages(sqs, settings.dead_letter_queue_name))


def _objects(s3, bucket: str) -> int:
    try:
        return sum(page.get("KeyCount", 0)
                   for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    except ClientError:
        return 0  # no such bucket: nothing to drop


def _batches(dynamodb, table: str) -> tuple[int, int]:
    """Batches with a file record, and of those the ones whose latest revision is published."""
    batches: set[str] = set()
    published: set[str] = set()
    try:
        for page in dynamodb.get_paginator("scan").paginate(
                TableName=table, ProjectionExpression="pk, sk, #state",
                ExpressionAttributeNames={"#state": "state"}):
            for item in page["Items"]:
                pk, sk = item["pk"]["S"], item["sk"]["S"]
                if not pk.startswith("batch#"):
                    continue
                if sk.startswith("file#"):
                    batches.add(pk)
                elif sk == "publication" and item.get("state", {}).get("S") == "published":
                    published.add(pk)
    except ClientError:
        return 0, 0  # no such table
    return len(batches - published), len(batches & published)


def _messages(sqs, queue_name: str) -> int:
    try:
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    except ClientError:
        return 0
    return sum(int(value) for value in attributes.values())
