"""Faults on the wire between the app's clients and moto, and helpers to see what came of them.

Used by the fault tests (``test_faults.py``, ``test_publication_once.py``);
the fixtures that install them (``sleeps``, ``wire``) are in ``conftest.py``.
Each test asserts what a user sees: the messages on the output queue (with the
``idempotency_key`` attribute), the batch status, and the handler's outcome or
error.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from types import SimpleNamespace

from botocore.awsrequest import AWSResponse
from moto.core.models import botocore_stubber

from chalicelib import aws, wiring
from chalicelib.keys import BatchRef
from chalicelib.messages import from_json
from chalicelib.status import batch_status
from tests.conftest import sample_bytes
from tests.functional.received import by_idempotency_key

KINDS = ("customers", "orders", "items")


class Sleeps:
    """Back-off delays asked for, by whom; nothing actually sleeps."""

    def __init__(self) -> None:
        self.store: list[float] = []
        self.publisher: list[float] = []
        self.sdk: list[float] = []  # botocore's own retries


@contextmanager
def hooked(*hooks):
    """Register ``(event, handler)`` pairs on the app's cached clients while inside."""
    registered = []
    try:
        for event, handler in hooks:
            events = aws.client(event.split(".")[1]).meta.events
            events.register(event, handler)
            registered.append((events, event, handler))
        yield
    finally:
        for events, event, handler in registered:
            events.unregister(event, handler)


class Attempt(SimpleNamespace):
    """One HTTP attempt of an app call: service, operation, request; send() lets moto answer."""

    def body(self) -> dict:
        return json.loads(self.request.body or b"{}")


class Wire:
    """Stands between the app's clients and moto, one HTTP attempt at a time.

    moto answers in-process from a generic ``before-send`` handler, and botocore
    calls *every* before-send handler (the first response wins), so a fault
    registered beside moto could not stop a request from landing. The wire
    takes moto's place on the app's clients instead: each fault sees the
    attempt and returns a response (moto is not asked: the request never
    landed), raises (a network failure, retried by botocore like a real one),
    or returns None to let the next fault or moto answer; ``attempt.send()``
    lets a fault have moto perform the request first.

    DynamoDB requests are handed to moto one at a time. DynamoDB applies a
    conditional write atomically; moto in-process does not (its UpdateItem
    checks the condition, then validates and applies the update, with no lock),
    so two threads' claims could both pass the check in moto: a race of the
    emulator, not of the app (without the lock the race test failed in 2 of 5
    runs of 20 rounds, both claims granted; with it, 150 rounds pass).
    The app's own steps (read the batch, decide, claim) still interleave freely.
    """

    def __init__(self) -> None:
        self.faults: list = []
        self.attempts = 0
        self._dynamodb = threading.Lock()

    def _send(self, service: str, event_name: str, request):
        if service != "dynamodb":
            return botocore_stubber(event_name, request=request)
        with self._dynamodb:
            return botocore_stubber(event_name, request=request)

    def __call__(self, request, event_name, **_):
        _, service, operation = event_name.split(".")
        self.attempts += 1
        attempt = Attempt(service=service, operation=operation, request=request,
                          send=lambda: self._send(service, event_name, request))
        for fault in list(self.faults):
            response = fault(attempt)
            if response is not None:
                return response
        return attempt.send()

    @contextmanager
    def fault(self, *faults):
        self.faults.extend(faults)
        try:
            yield
        finally:
            for fault in faults:
                self.faults.remove(fault)


class _Raw:
    """The raw stream botocore reads a response body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs):
        yield self._body


def error_response(request, service: str, code: str, status: int = 400) -> AWSResponse:
    """A service error as it arrives over HTTP (AWS JSON protocol: DynamoDB, SQS)."""
    namespace = {"dynamodb": "com.amazonaws.dynamodb.v20120810", "sqs": "com.amazonaws.sqs"}[service]
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}
    if service == "sqs":  # SQS speaks JSON but names its errors as its query API did
        headers["x-amzn-query-error"] = f"{code};Sender"
    body = json.dumps({"__type": f"{namespace}#{code}", "message": f"injected {code}"}).encode()
    return AWSResponse(request.url, status, headers, _Raw(body))


def is_claim(attempt) -> bool:
    """A claim of a new revision (a transaction with the file checks), or a take-over
    (an UpdateItem that sets claimed_at); renewals and releases only move the lease."""
    if attempt.operation == "TransactWriteItems":
        return True
    return (attempt.operation == "UpdateItem"
            and ":claimed_at" in attempt.body().get("ExpressionAttributeValues", {}))


def is_mark_published(body: dict) -> bool:
    values = body.get("ExpressionAttributeValues", {})
    return ":published" in values and ":n" in values


def is_file_record(attempt) -> bool:
    """The UpdateItem that makes a file version the batch's current one (``record_file``)."""
    if attempt.operation != "UpdateItem":
        return False
    body = attempt.body()
    return (body["Key"]["sk"]["S"].startswith("file#")
            and body["UpdateExpression"].startswith("SET"))


FOLDER = "incoming"


def key_of(kind: str, batch_id: str) -> str:
    return f"{FOLDER}/{kind}_{batch_id}.csv"


def put(sb, kind: str, batch_id: str, body: bytes | None = None) -> str:
    key = key_of(kind, batch_id)
    sb.s3.put_object(Bucket=sb.settings.ingest_bucket, Key=key,
                     Body=sample_bytes(kind) if body is None else body)
    return key


def distinct(received, repeats_allowed: bool) -> dict[str, tuple]:
    """The messages by idempotency key: {key: (body, attributes)}; see by_idempotency_key."""
    return {key: (m.body, m.attributes)
            for key, m in by_idempotency_key(received, repeats_allowed).items()}


def bodies(by_key: dict[str, tuple]) -> list[dict]:
    return [from_json(body) for body, _ in by_key.values()]


def neutral(by_key: dict[str, tuple], batch_id: str) -> dict[str, tuple]:
    """Messages with the batch id neutral, to compare with a clean run of another batch."""
    return json.loads(json.dumps(sorted(by_key.items())).replace(batch_id, "<batch>"))


def status(sb, batch_id: str) -> dict:
    return batch_status(*wiring.records_and_reports(sb.settings, clock=sb.clock), BatchRef(FOLDER, batch_id))


def comparable_status(sb, batch_id: str) -> dict:
    """The status without clock readings and with the batch id neutral, to compare runs."""
    found = status(sb, batch_id)
    for clock_or_request in ("published_at", "claimed_at", "claimed_by", "lease_ends_at"):
        found.pop(clock_or_request)
    for entry in found["files"]:
        entry.pop("processed_at", None)
        entry.pop("rows_kept_until", None)  # a clock reading too: the write time + retention
    return json.loads(json.dumps(found).replace(batch_id, "<batch>"))


def report_keys(sb, batch_id: str) -> list[str]:
    listed = sb.s3.list_objects_v2(Bucket=sb.settings.results_bucket, Prefix=f"reports/{FOLDER}/{batch_id}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def clean_run(sb, batch_id: str) -> tuple[dict, list]:
    """What one fault-free run of the sample batch leaves: status and messages."""
    for kind in KINDS:
        sb.deliver(put(sb, kind, batch_id))
    messages = sb.take_messages()
    return comparable_status(sb, batch_id), messages


def start_batch(sb, batch_id: str) -> tuple[str, dict]:
    """Customers and orders delivered; the items object stored and its event made."""
    for kind in ("customers", "orders"):
        sb.deliver(put(sb, kind, batch_id))
    items = put(sb, "items", batch_id)
    return items, sb.event_for(items)
