"""The HTTP routes' work: a batch's status, a customer's aggregate, publishing again.

For a person debugging the pipeline (``make local-api`` serves them with
``chalice local``; deployed stages require IAM-signed requests). Amounts keep
their exact digits, so bodies are written with the message writer, not the
float-prone default JSON encoder.
"""
from __future__ import annotations

import json
import re
from urllib.parse import unquote

from chalice import BadRequestError, ConflictError, NotFoundError, Response

from chalicelib.config import Settings
from chalicelib.errors import BatchNotFoundError, BatchNotReadyError
from chalicelib.keys import BATCH_ID_PATTERN, BatchRef
from chalicelib.messages import to_json
from chalicelib.status import batch_status
from chalicelib.wiring import pipeline_from_environment, records_and_reports

_JSON: dict[str, str | list[str]] = {"Content-Type": "application/json"}
# What a percent-encoded path segment is made of (RFC 3986 pchar): a value with
# anything else (a space, "ü") cannot still be encoded, so it was decoded already.
_ENCODED_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]*")


def path_parameter(value: str, what: str) -> str:
    """A path parameter as the client meant it: percent-decoded once, where it arrives encoded.

    API Gateway REST APIs (what Chalice deploys), ``chalice local`` and
    Chalice's test client all pass the path segment as the client sent it, so
    ``a%2Fb`` stands for ``a/b`` and ``100%25`` for ``100%``. Only a value that
    cannot be an encoded segment (an HTTP API decodes for the handler) is taken
    as it is, so that it is never decoded twice. A '+' is a plus sign in a path.
    """
    if not _ENCODED_SEGMENT.fullmatch(value):
        return value
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError as exc:
        bad = "".join(f"%{byte:02X}" for byte in exc.object[exc.start:exc.end])
        raise BadRequestError(f"the {what} {value!r} is not percent-encoded UTF-8 ({bad} is no UTF-8 "
                              f"character): encode the id's UTF-8 bytes, e.g. café as caf%C3%A9") from None


def batch_ref(batch_id: str, query: dict | None) -> BatchRef:
    """The batch a route names: its id in the path, its folder in ``?folder=`` (none: the top).

    A folder holds '/', which a path parameter cannot, hence the query string.
    """
    if not BATCH_ID_PATTERN.fullmatch(batch_id):
        raise BadRequestError(f"{batch_id!r} is not a batch id: letters, digits, '.' and '-', "
                              f"starting with a letter or digit (e.g. 20230828)")
    folder = ((query or {}).get("folder") or "").strip("/")
    if folder and "" in folder.split("/"):
        raise BadRequestError(f"folder {folder!r} has an empty part ('//'): give the key's "
                              f"prefix, e.g. ?folder=partner-a/incoming")
    return BatchRef(folder, batch_id)


def get_batch(batch: BatchRef) -> Response:
    status = batch_status(*records_and_reports(Settings.from_env()), batch)
    if not status["known"]:
        raise NotFoundError(f"no file of {batch.describe()} has been processed; check the batch "
                            f"id and the folder (?folder=<the key's prefix>)")
    return Response(body=json.dumps(status), headers=_JSON)


def get_customer(batch: BatchRef, customer_id: str) -> Response:
    """The customer's message; ``customer_id`` as the route got it from the path."""
    customer_id = path_parameter(customer_id, "customer id")
    try:
        message = pipeline_from_environment().preview_customer(batch, customer_id)
    except BatchNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc
    except BatchNotReadyError as exc:
        raise ConflictError(str(exc)) from exc
    return Response(body=to_json(message), headers=_JSON)


def publish_again(batch: BatchRef) -> Response:
    try:
        outcome = pipeline_from_environment().republish(batch)
    except BatchNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc
    except BatchNotReadyError as exc:
        raise ConflictError(str(exc)) from exc
    return Response(body=json.dumps({"batch_id": batch.batch_id, "folder": batch.folder,
                                     "revision": outcome.published_revision,
                                     "messages": outcome.messages}), headers=_JSON)
