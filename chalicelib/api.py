"""The HTTP routes' work: a batch's status, a customer's aggregate, publishing again.

For a person debugging the pipeline (``make local-api`` serves them with
``chalice local``; deployed stages require IAM-signed requests). Amounts keep
their exact digits, so bodies are written with the message writer, not the
float-prone default JSON encoder.
"""
from __future__ import annotations

import json

from chalice import BadRequestError, ConflictError, NotFoundError, Response

from chalicelib.config import Settings
from chalicelib.errors import BatchNotFoundError, BatchNotReadyError
from chalicelib.keys import BATCH_ID_PATTERN, BatchRef
from chalicelib.messages import to_json
from chalicelib.status import batch_status
from chalicelib.wiring import pipeline_from_environment, store_and_reports

_JSON = {"Content-Type": "application/json"}


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
    status = batch_status(*store_and_reports(Settings.from_env()), batch)
    if not status["known"]:
        raise NotFoundError(f"no file of {batch.describe()} has been processed; check the batch "
                            f"id and the folder (?folder=<the key's prefix>)")
    return Response(body=json.dumps(status), headers=_JSON)


def get_customer(batch: BatchRef, customer_id: str) -> Response:
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
