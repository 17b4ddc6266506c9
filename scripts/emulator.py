"""The embedded emulator: moto's server, plus a read-only view of queue contents.

    python -m scripts.emulator -H 127.0.0.1 -p 4566

It serves every AWS API moto emulates, exactly as ``moto_server`` does, and
adds ``GET /_aws/sqs/messages?QueueUrl=...``, the developer endpoint LocalStack
has too: it lists a queue's messages without receiving them. A ReceiveMessage
would count towards the redrive policy's maxReceiveCount, so watching the
output queue that way (``make tail``) would push messages into the dead-letter
queue.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys

from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                           create_backend_app)
from moto.sqs.models import sqs_backends
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

PEEK_PATH = "/_aws/sqs/messages"


def queue_messages(queue_url: str) -> list[dict] | None:
    """The messages a queue holds (visible or in flight), or None if there is no such queue."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    app = PeekMiddleware(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
