"""Chaos on the wire of an execution environment: the function's AWS calls fail as AWS calls do.

Installed in each execution environment before the app is imported
(``install``): a botocore ``before-send`` handler on every client the function
builds (botocore's own hook list, the way moto's mock installs itself). It
sees each HTTP attempt of each call, inside the SDK's retry loop, so what it
injects is handled exactly as the real failure would be:

- ``throttle``: the service's throttling answer (DynamoDB ThrottlingException,
  SQS ThrottlingException, S3 503 SlowDown): the SDK backs off and retries;
- ``error``: a 500: the SDK retries;
- ``lost-answer``: a write is sent and lands, then its answer is lost (a read
  time-out): the SDK sends it again, so the service gets it twice;
- ``partial``: a SendMessageBatch or BatchWriteItem is sent with only some of
  its entries, and the rest are answered as failed (``Failed``, not the
  sender's fault) or unprocessed (``UnprocessedItems``), as AWS does under load;
- ``kill``: the environment is killed (SIGKILL) before or after its n-th call,
  as a crash or Lambda's time-out would stop it; the runner sees it die and
  retries the event. Never on an event's last attempt, so that chaos alone
  does not dead-letter events.

Every fault is written to the runner's log as a ``CHAOS`` line. Only the
standard library and botocore, which the function's package holds.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import Counter
from datetime import datetime

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from .settings import Chaos  # relative: an environment loads this package from its folder

_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "SendMessage",
           "SendMessageBatch", "PutObject", "DeleteObject", "DeleteObjects"}
# The n-th call of an invocation that a kill comes at, n drawn up to this: the
# calls of even a file that completes nothing (read, store, record, report).
_KILL_WITHIN_CALLS = 6
_JSON_ERROR_NAMESPACES = {"dynamodb": "com.amazonaws.dynamodb.v20120810", "sqs": "com.amazonaws.sqs"}
_THROTTLED = {"dynamodb": (400, "ThrottlingException"), "sqs": (400, "ThrottlingException"),
              "s3": (503, "SlowDown")}
_FAILED = {"dynamodb": (500, "InternalServerError"), "sqs": (500, "InternalError"),
           "s3": (500, "InternalError")}


class _Invocation:
    """The faults of one invocation: what it is, and how many calls it has made."""

    def __init__(self, chaos: Chaos, request_id: str, key: str, attempt: int, final: bool) -> None:
        self.chaos = chaos
        self.about = (key, attempt)
        self.request_id = request_id
        self.calls = 0
        self.by_operation: Counter[str] = Counter()
        self.kill_at, self.kill_after = 0, False
        if not final and chaos.happens("kill", *self.about):
            draw = chaos.generator("kill at", *self.about)
            self.kill_at, self.kill_after = draw.randint(1, _KILL_WITHIN_CALLS), draw.random() < 0.5


_lock = threading.Lock()
_current: _Invocation | None = None
_http = None


def begin(chaos: Chaos, request_id: str, key: str, attempt: int, final: bool) -> None:
    """The faults for the invocation about to run in this environment; ``key`` (the upload
    and which time it is invoked) and ``attempt`` seed them, so that a seed repeats them."""
    global _current
    with _lock:
        _current = _Invocation(chaos, request_id, key, attempt, final) if chaos.on else None


def end() -> None:
    global _current
    with _lock:
        _current = None


def install() -> None:
    """Put the handler on every botocore session made from now on (before the app imports)."""
    from botocore.handlers import BUILTIN_HANDLERS
    if ("before-send", on_send) not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append(("before-send", on_send))


def on_send(request, event_name: str, **_kwargs):
    """botocore's before-send: an answer in the service's place, an exception, or None (send it)."""
    _, service, operation = event_name.split(".", 2)
    with _lock:
        invocation = _current
        if invocation is None:
            return None
        invocation.calls += 1
        call = invocation.calls
        invocation.by_operation[operation] += 1
        about = (*invocation.about, service, operation, invocation.by_operation[operation])
    chaos = invocation.chaos
    if call == invocation.kill_at:
        if invocation.kill_after:
            _send(request)
        _kill(invocation, call, service, operation, "after" if invocation.kill_after else "before")
    if chaos.happens("throttle", *about) and service in _THROTTLED:
        _log(invocation, f"throttle: {service} {operation} answered {_THROTTLED[service][1]}")
        return _error(request, service, *_THROTTLED[service], "Rate exceeded (chaos)")
    if chaos.happens("error", *about) and service in _FAILED:
        _log(invocation, f"error: {service} {operation} answered {_FAILED[service][0]}")
        return _error(request, service, *_FAILED[service], "We encountered an internal error (chaos)")
    if operation in _WRITES and chaos.happens("lost-answer", *about):
        _send(request)
        request.reset_stream()  # the SDK sends the body again, from its start
        _log(invocation, f"lost-answer: {service} {operation} landed, its answer was lost")
        raise ReadTimeoutError(endpoint_url=request.url)
    if operation in ("SendMessageBatch", "BatchWriteItem") and chaos.happens("partial", *about):
        return _partially(invocation, request, operation, chaos.generator("partial", *about))
    return None


def _partially(invocation: _Invocation, request, operation: str, draw):
    body = json.loads(request.body)
    if operation == "SendMessageBatch":
        entries = body["Entries"]
        failed = draw.sample(entries, draw.randint(1, len(entries)))
        body["Entries"] = [e for e in entries if e not in failed]
        answer = _forward(request, body) if body["Entries"] else {"Successful": [], "Failed": []}
        if isinstance(answer, AWSResponse):
            return answer  # the service refused even the part: its own answer stands
        answer.setdefault("Failed", []).extend(
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError",
             "Message": "chaos: not sent, try again"} for e in failed)
        _log(invocation, f"partial: SendMessageBatch sent {len(entries) - len(failed)} of "
                         f"{len(entries)} messages, the rest reported failed")
    else:
        (table, requests), = body["RequestItems"].items()
        unprocessed = draw.sample(requests, draw.randint(1, len(requests)))
        body["RequestItems"][table] = [r for r in requests if r not in unprocessed]
        answer = _forward(request, body) if body["RequestItems"][table] else {"UnprocessedItems": {}}
        if isinstance(answer, AWSResponse):
            return answer
        answer.setdefault("UnprocessedItems", {}).setdefault(table, []).extend(unprocessed)
        _log(invocation, f"partial: BatchWriteItem wrote {len(requests) - len(unprocessed)} of "
                         f"{len(requests)} items, the rest left unprocessed")
    return _response(request, 200, {"Content-Type": "application/x-amz-json-1.0"},
                     json.dumps(answer).encode("utf-8"))


def _forward(request, body: dict) -> dict | AWSResponse:
    """Send ``request`` with ``body`` instead of its own; the service's answer, parsed if it succeeded.

    The request is put back as it was before this returns or raises: botocore
    reuses it for its retries, which must send the whole call again.
    """
    data = json.dumps(body).encode("utf-8")
    original = (request.body, request.headers.get("Content-Length"))
    request.body = data
    request.headers["Content-Length"] = str(len(data))
    try:
        response = _send(request)
    finally:
        request.body = original[0]
        if original[1] is not None:
            request.headers["Content-Length"] = original[1]
    if response.status_code != 200:
        return _response(request, response.status_code, dict(response.headers), response.content)
    return json.loads(response.content or b"{}")


def _send(request):
    global _http
    if _http is None:
        from botocore.httpsession import URLLib3Session
        _http = URLLib3Session()
    return _http.send(request)


def _kill(invocation: _Invocation, call: int, service: str, operation: str, when: str) -> None:
    _log(invocation, f"kill: environment {os.getpid()} killed {when} its call {call} "
                     f"({service} {operation})")
    os.kill(os.getpid(), signal.SIGKILL)


def _error(request, service: str, status: int, code: str, message: str):
    if service == "s3":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                f"<Message>{message}</Message><RequestId>chaos</RequestId></Error>").encode()
        return _response(request, status, {"Content-Type": "application/xml"}, body)
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "chaos"}
    if service == "sqs":  # SQS speaks JSON but names its errors as its query API did
        headers["x-amzn-query-error"] = f"{code};{'Sender' if status < 500 else 'Receiver'}"
    document = json.dumps({"__type": f"{_JSON_ERROR_NAMESPACES[service]}#{code}", "message": message})
    return _response(request, status, headers, document.encode("utf-8"))


class _Raw:
    """The raw stream botocore reads an answer's body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs):
        yield self._body


def _response(request, status: int, headers: dict, body: bytes) -> AWSResponse:
    return AWSResponse(request.url, status, {**headers, "Content-Length": str(len(body))}, _Raw(body))


def _log(invocation: _Invocation, text: str) -> None:
    """A CHAOS line in the runner's log format, so that `make logs` shows it."""
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    sys.stdout.write(f"{stamp} WARNING event_runner CHAOS {text} "
                     f"(request {invocation.request_id})\n")
    sys.stdout.flush()
