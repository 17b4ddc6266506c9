"""``GET /_aws/sqs/messages?QueueUrl=...``: a queue's messages, listed without receiving them.

LocalStack has the same developer endpoint. A ReceiveMessage would count
towards the redrive policy's maxReceiveCount, so watching the output queue
that way (``make tail``) would push messages into the dead-letter queue.
"""
from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

PEEK_PATH = "/_aws/sqs/messages"

# moto's internals are imported where they are used, after the version check
# (fixes.check_moto_version), so that a moto in which they moved gets the plain
# message, not an ImportError.


def queue_messages(queue_url: str) -> list[dict] | None:
    """The messages a queue holds (visible or in flight), or None if there is no such queue."""
    from moto.sqs.models import sqs_backends
    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    for regions in list(sqs_backends.values()):
        for backend in list(regions.values()):
            queue = backend.queues.get(name)
            if queue is None:
                continue
            with queue._messages_lock:  # moto keeps no public accessor that includes in-flight ones
                messages = list(queue._messages)
            return [{
                "MessageId": m.id,
                "Body": m.body,
                "Attributes": {"SentTimestamp": str(m.sent_timestamp or ""),
                               "ApproximateReceiveCount": str(m.approximate_receive_count)},
                # moto keeps attributes as the API sends them (StringValue, DataType).
                "MessageAttributes": {k: {"DataType": v.get("DataType", "String"),
                                          "StringValue": v.get("StringValue", "")}
                                      for k, v in m.message_attributes.items()},
            } for m in messages]
    return None


class PeekMiddleware:
    """A WSGI app that answers ``GET PEEK_PATH`` itself and passes every other request to ``app``."""

    def __init__(self, app) -> None:
        self._app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PEEK_PATH and environ.get("REQUEST_METHOD") == "GET":
            request = Request(environ)
            messages = queue_messages(request.args.get("QueueUrl", ""))
            if messages is None:
                response = Response(json.dumps({"error": "no such queue"}), status=404,
                                    mimetype="application/json")
            else:
                response = Response(json.dumps({"Messages": messages}), mimetype="application/json")
            return response(environ, start_response)
        return self._app(environ, start_response)
