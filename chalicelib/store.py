"""The DynamoDB model: a batch's files, their rows, and its publication.

One table, string keys ``pk`` / ``sk``:

==========================================  ==================  ==========================
pk                                          sk                  what
==========================================  ==================  ==========================
``batch#<batch key>``                       ``file#<kind>``     the file last processed for
                                                                that kind: key, ETag, rows,
                                                                accepted or rejected
``batch#<batch key>``                       ``publication``     revision, the file versions
                                                                it was built from, state
``batch#<batch key>``                       ``misnamed#<name>`` a misnamed upload that names
                                                                this batch, and its report
``folder#<folder>``                         ``misnamed#<name>`` one that names no batch
``rows#<batch key>#<kind>#<etag>#<shard>``  row id              one input row
==========================================  ==================  ==========================

The batch key is ``<folder>/<batch id>`` (``keys.BatchRef.key``): two folders
with the same batch id are two batches, with keys of their own.

Rows are stored per file *version* (its ETag), never merged into totals, so
processing a file twice writes the same items again (idempotent) and a changed
upload lands beside the old one instead of adding to it. Totals are recomputed
from the current versions when a batch is published. Each version's rows are
spread over ``shards`` partition keys so large files do not heat one partition.
Every read is a GetItem or a Query by partition key: there is no Scan.
"""
from __future__ import annotations

import random
import time
import uuid
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Iterable, Iterator

from chalicelib.errors import PipelineError
from chalicelib.keys import KINDS
from chalicelib.model import Customer, Item, Order

ACCEPTED = "accepted"
REJECTED = "rejected"
PUBLISHING = "publishing"
PUBLISHED = "published"
SUPERSEDED = "superseded"
_BATCH_WRITE_SIZE = 25
_MISNAMED = "misnamed#"


@dataclass(frozen=True)
class FileRecord:
    kind: str
    key: str
    etag: str
    status: str  # ACCEPTED or REJECTED
    rows: int
    shards: int
    processed_at: str
    problem_count: int = 0
    report_key: str = ""
    sequencer: str = ""  # of the S3 event that carried this version


@dataclass(frozen=True)
class Publication:
    revision: int
    version_key: str
    state: str  # PUBLISHING or PUBLISHED
    claimed_at: str
    published_at: str = ""
    messages: int = 0
    claim_token: str = ""  # unique per claim attempt: tells a retried claim from a rival's


@dataclass(frozen=True)
class MisnamedFile:
    """An upload whose name is not ``<kind>_<batch id>.csv``, and where its report is."""

    key: str
    kind: str  # the kind its name means, or "" when that cannot be told
    report_key: str
    reason: str
    processed_at: str

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass
class BatchState:
    batch_key: str
    files: dict[str, FileRecord] = field(default_factory=dict)
    publication: Publication | None = None
    misnamed: list[MisnamedFile] = field(default_factory=list)

    def missing_kinds(self) -> list[str]:
        return [k for k in KINDS if k not in self.files or self.files[k].status != ACCEPTED]

    def version_key(self) -> str:
        """Names the exact file versions a publication is built from."""
        return ";".join(f"{k}={self.files[k].etag}" for k in KINDS)


def _row_item(kind: str, row) -> dict:
    if kind == "customers":
        return {"sk": {"S": row.customer_id}, "name": {"S": row.name}}
    if kind == "orders":
        # The amount is kept as text: DynamoDB numbers drop trailing zeros (250.00 -> 250).
        return {"sk": {"S": row.order_id}, "customer_id": {"S": row.customer_id},
                "amount": {"S": str(row.amount)}}
    return {"sk": {"S": row.item_id}, "order_id": {"S": row.order_id}}


_ROW_PROJECTION = {
    "customers": {"ProjectionExpression": "sk, #n", "ExpressionAttributeNames": {"#n": "name"}},
    "orders": {"ProjectionExpression": "sk, customer_id, amount"},
    "items": {"ProjectionExpression": "sk, order_id"},
}


def _row_from_item(kind: str, item: dict):
    if kind == "customers":
        return Customer(item["sk"]["S"], item["name"]["S"])
    if kind == "orders":
        return Order(item["sk"]["S"], item["customer_id"]["S"], Decimal(item["amount"]["S"]))
    return Item(item["sk"]["S"], item["order_id"]["S"])


class StaleEventError(PipelineError):
    """A newer upload of the same file was recorded first; this event is out of date."""


def sequencer_order(sequencer: str) -> str:
    """S3 sequencers are hex numbers of varying length: pad them to compare as text."""
    return sequencer.upper().rjust(64, "0") if sequencer else ""


def shard_of(row_id: str, shards: int) -> int:
    return zlib.crc32(row_id.encode("utf-8")) % shards


class BatchStore:
    def __init__(self, client, table_name: str, shards: int = 8, max_attempts: int = 8,
                 sleep: Callable[[float], None] = time.sleep, writers: int = 4) -> None:
        self._client = client
        self._writers = writers
        self._table = table_name
        self.shards = shards
        self._max_attempts = max_attempts
        self._sleep = sleep
        self.items_written = 0  # row items this store has written, for the summary line

    # --- rows -----------------------------------------------------------------
    def write_rows(self, batch_key: str, kind: str, version: str, rows: Iterable) -> int:
        """Put every row of one file version; return how many were written.

        Groups of 25 go out on ``writers`` threads (DynamoDB calls are latency
        bound, so a few in flight multiply throughput); at most twice that many
        groups wait, so memory stays bounded however long the file is.
        """
        prefix = f"rows#{batch_key}#{kind}#{version}#"
        pending: list[dict] = []
        pending_ids: set[str] = set()
        in_flight: deque[Future] = deque()
        count = 0
        with ThreadPoolExecutor(max_workers=self._writers, thread_name_prefix="batch-write") as pool:

            def send(group: list[dict]) -> None:
                in_flight.append(pool.submit(self._batch_write, group))
                if len(in_flight) >= 2 * self._writers:
                    self.items_written += in_flight.popleft().result()

            try:
                for row in rows:
                    item = _row_item(kind, row)
                    row_id = item["sk"]["S"]
                    if row_id in pending_ids:
                        # DynamoDB refuses a group that puts one key twice. A file with
                        # a repeated id is rejected once read, but the repeat of an id
                        # read long before is only found then, so it can reach here.
                        send(pending)
                        pending, pending_ids = [], set()
                    item["pk"] = {"S": prefix + str(shard_of(row_id, self.shards))}
                    pending.append({"PutRequest": {"Item": item}})
                    pending_ids.add(row_id)
                    count += 1
                    if len(pending) == _BATCH_WRITE_SIZE:
                        send(pending)
                        pending, pending_ids = [], set()
                if pending:
                    send(pending)
                while in_flight:
                    self.items_written += in_flight.popleft().result()
            finally:
                for future in in_flight:  # a failure (or bad row) stops what has not started
                    future.cancel()
        return count

    def _batch_write(self, requests: list[dict]) -> int:
        total = len(requests)
        for attempt in range(self._max_attempts):
            response = self._client.batch_write_item(RequestItems={self._table: requests})
            requests = response.get("UnprocessedItems", {}).get(self._table, [])
            if not requests:
                return total
            if attempt + 1 < self._max_attempts:
                # Full jitter: spreads the retries of concurrent writers apart.
                self._sleep(random.uniform(0, min(2.0, 0.05 * 2 ** attempt)))
        raise PipelineError(f"DynamoDB left {len(requests)} write(s) unprocessed in table "
                            f"{self._table} after {self._max_attempts} attempts")

    def read_rows(self, batch_key: str, kind: str, record: FileRecord) -> Iterator:
        """Every row of the file version ``record`` names, shard by shard."""
        paginator = self._client.get_paginator("query")
        for shard in range(record.shards):
            pages = paginator.paginate(
                TableName=self._table, ConsistentRead=True,
                # The partition key is known; leaving it out trims every response.
                **_ROW_PROJECTION[kind],
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"rows#{batch_key}#{kind}#{record.etag}#{shard}"}})
            for page in pages:
                for item in page["Items"]:
                    yield _row_from_item(kind, item)

    # --- files and publication ------------------------------------------------
    def record_file(self, batch_key: str, record: FileRecord) -> FileRecord | None:
        """Make ``record`` the batch's current file of its kind; return the one it replaced."""
        item = {
            "pk": {"S": batch_scope(batch_key)}, "sk": {"S": f"file#{record.kind}"},
            "object_key": {"S": record.key}, "etag": {"S": record.etag},
            "file_status": {"S": record.status}, "rows": {"N": str(record.rows)},
            "shards": {"N": str(record.shards)}, "processed_at": {"S": record.processed_at},
            "problem_count": {"N": str(record.problem_count)},
        }
        if record.report_key:
            item["report_key"] = {"S": record.report_key}
        order = sequencer_order(record.sequencer)
        item["sequencer"] = {"S": order}
        # Newest wins: S3 may deliver the events of two quick uploads of one key
        # out of order; an event older than the one recorded must not overwrite it.
        # A batch is its folder's, so this item is only ever written for one key,
        # whose events the sequencer orders. (Emulators may send one constant
        # sequencer: equal values are let through, and the IfMatch read has
        # already dropped events for overwritten content.)
        try:
            response = self._client.put_item(
                TableName=self._table, Item=item, ReturnValues="ALL_OLD",
                ConditionExpression="attribute_not_exists(sequencer) OR sequencer <= :seq",
                ExpressionAttributeValues={":seq": {"S": order}})
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            raise StaleEventError(f"a newer upload of {record.key} was processed first") from exc
        old = response.get("Attributes")
        return _file_record_from_item(old) if old else None

    def read_batch(self, batch_key: str) -> BatchState:
        state = BatchState(batch_key)
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
                TableName=self._table, ConsistentRead=True,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": batch_scope(batch_key)}}):
            for item in page["Items"]:
                sk = item["sk"]["S"]
                if sk.startswith("file#"):
                    record = _file_record_from_item(item)
                    state.files[record.kind] = record
                elif sk == "publication":
                    state.publication = _publication_from_item(item)
                elif sk.startswith(_MISNAMED):
                    state.misnamed.append(_misnamed_from_item(item))
        return state

    # --- misnamed uploads -----------------------------------------------------
    def record_misnamed(self, scope: str, record: "MisnamedFile") -> None:
        """Note a misnamed upload under ``scope`` (``batch#<key>`` or ``folder#<folder>``)."""
        item = {"pk": {"S": scope}, "sk": {"S": _MISNAMED + record.file_name},
                "object_key": {"S": record.key}, "report_key": {"S": record.report_key},
                "reason": {"S": record.reason}, "processed_at": {"S": record.processed_at}}
        if record.kind:
            item["kind"] = {"S": record.kind}
        self._client.put_item(TableName=self._table, Item=item)

    def misnamed_in_folder(self, folder: str) -> list["MisnamedFile"]:
        """Misnamed uploads of ``folder`` that name no batch."""
        paginator = self._client.get_paginator("query")
        return [_misnamed_from_item(item)
                for page in paginator.paginate(
                    TableName=self._table, ConsistentRead=True,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :misnamed)",
                    ExpressionAttributeValues={":pk": {"S": folder_scope(folder)},
                                               ":misnamed": {"S": _MISNAMED}})
                for item in page["Items"]]

    def forget_misnamed(self, scope: str, file_name: str) -> None:
        self._client.delete_item(TableName=self._table,
                                 Key={"pk": {"S": scope}, "sk": {"S": _MISNAMED + file_name}})

    def claim_publication(self, batch_key: str, version_key: str, now: str,
                          after_revision: int | None = None) -> Publication | None:
        """Take the next revision for ``version_key``; None if it is already taken.

        The condition makes the claim exclusive: of two invocations that complete
        the same batch at once, exactly one gets the revision. With
        ``after_revision`` (publishing the same versions again on request) the
        claim holds only if that revision is still the latest and published.
        """
        if after_revision is None:
            condition = "attribute_not_exists(version_key) OR version_key <> :vk"
            values = {}
        else:
            condition = "revision = :after AND #state = :published"
            values = {":after": {"N": str(after_revision)}, ":published": {"S": PUBLISHED}}
        token = uuid.uuid4().hex
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": batch_scope(batch_key)}, "sk": {"S": "publication"}},
                UpdateExpression=("SET revision = if_not_exists(revision, :zero) + :one, "
                                  "version_key = :vk, #state = :publishing, claimed_at = :now, "
                                  "claim_token = :token "
                                  "REMOVE published_at, messages"),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"},
                                           ":vk": {"S": version_key}, ":now": {"S": now},
                                           ":publishing": {"S": PUBLISHING},
                                           ":token": {"S": token}, **values},
                ReturnValues="ALL_NEW")
        except self._client.exceptions.ConditionalCheckFailedException:
            # botocore retries a call whose answer was lost (a time-out): if our
            # first attempt landed, the retry fails the condition on our own
            # claim. The token tells that apart from a rival's claim.
            current = self.read_batch(batch_key).publication
            if current is not None and current.claim_token == token:
                return current
            return None
        return _publication_from_item(response["Attributes"])

    def mark_published(self, batch_key: str, revision: int, messages: int, now: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": batch_scope(batch_key)}, "sk": {"S": "publication"}},
                UpdateExpression="SET #state = :published, published_at = :now, messages = :n",
                ConditionExpression="revision = :rev",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":published": {"S": PUBLISHED}, ":now": {"S": now},
                                           ":n": {"N": str(messages)}, ":rev": {"N": str(revision)}})
        except self._client.exceptions.ConditionalCheckFailedException:
            pass  # a newer revision was claimed meanwhile; its publisher records itself


def _file_record_from_item(item: dict) -> FileRecord:
    return FileRecord(
        kind=item["sk"]["S"][len("file#"):], key=item["object_key"]["S"], etag=item["etag"]["S"],
        status=item["file_status"]["S"], rows=int(item["rows"]["N"]),
        shards=int(item["shards"]["N"]), processed_at=item["processed_at"]["S"],
        problem_count=int(item["problem_count"]["N"]),
        report_key=item.get("report_key", {}).get("S", ""),
        sequencer=item.get("sequencer", {}).get("S", ""))


def batch_scope(batch_key: str) -> str:
    return f"batch#{batch_key}"


def folder_scope(folder: str) -> str:
    return f"folder#{folder}"


def _misnamed_from_item(item: dict) -> MisnamedFile:
    return MisnamedFile(key=item["object_key"]["S"], kind=item.get("kind", {}).get("S", ""),
                        report_key=item["report_key"]["S"], reason=item["reason"]["S"],
                        processed_at=item["processed_at"]["S"])


def _publication_from_item(item: dict) -> Publication:
    return Publication(
        revision=int(item["revision"]["N"]), version_key=item["version_key"]["S"],
        state=item["state"]["S"], claimed_at=item["claimed_at"]["S"],
        published_at=item.get("published_at", {}).get("S", ""),
        messages=int(item.get("messages", {}).get("N", "0")),
        claim_token=item.get("claim_token", {}).get("S", ""))
