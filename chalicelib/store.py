"""The DynamoDB model: a batch's files, their rows, and its publication.

One table, string keys ``pk`` / ``sk``:

===============================================  ==================  ==========================
pk                                               sk                  what
===============================================  ==================  ==========================
``batch#<batch key>``                            ``file#<kind>``     the file last processed for
                                                                     that kind: key, ETag, rows,
                                                                     accepted or rejected, and
                                                                     its rows' write id
``batch#<batch key>``                            ``publication``     revision, the file versions
                                                                     it was built from, state,
                                                                     claim (``publication``)
``batch#<batch key>``                            ``misnamed#<name>`` a misnamed upload that names
                                                                     this batch, and its report
``folder#<folder>``                              ``misnamed#<name>`` one that names no batch
``rows#<batch key>#<kind>#<write id>#<slot>``    chunk number        a compressed block of rows
                                                                     (``row_chunks``)
===============================================  ==================  ==========================

The batch key is ``<folder>/<batch id>`` (``keys.BatchRef.key``): two folders
with the same batch id are two batches, with keys of their own.

Rows are stored per file *version*, never merged into totals: a changed upload
lands beside the old one instead of adding to it, and totals are recomputed
from the current versions when a batch is published. A version's rows are a
few chunk items (chunk ``n`` under slot ``n mod shards``, so a large file's
chunks spread over partitions and a small one's single chunk is one Query).

Each S3 event's rows get a *write id* of their own (``write_id_for``): the
same event processed again rewrites the same items, and a re-upload, even of
the same bytes, writes a new set. The file record lists every set it ever
pointed at; once a set is replaced it can never be recorded again, so a
publication can delete replaced sets without ever touching one that a current
or concurrent ingest needs. Chunks also carry a TTL (``expires_at``): nothing
is kept forever. Every read is a GetItem or a Query by partition key: there is
no Scan.
"""
from __future__ import annotations

import hashlib
import queue
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib import row_chunks
from chalicelib.errors import PipelineError
from chalicelib.item_sizes import item_size, write_units
from chalicelib.keys import KINDS
from chalicelib.publication import PUBLICATION_SORT_KEY, FileVersions, Publication, publication_from_item
from chalicelib.row_chunks import Chunk, cut_chunks, decode_chunk

ACCEPTED = "accepted"
REJECTED = "rejected"
SUPERSEDED = "superseded"
_BATCH_WRITE_SIZE = 25
_BATCH_WRITE_BYTES = 12 * 1024 * 1024  # under BatchWriteItem's 16 MB
_MISNAMED = "misnamed#"
_DAY_SECONDS = 86_400
_READ_AHEAD_CHUNKS = 4  # per slot: bounds what a publication holds in memory


@dataclass(frozen=True)
class WriteSet:
    """One ingest's chunks: what deleting them needs to know."""

    write_id: str
    chunks: int
    shards: int

    def encode(self) -> str:
        return f"{self.write_id}:{self.chunks}:{self.shards}"

    @classmethod
    def decode(cls, text: str) -> WriteSet:
        write_id, chunks, shards = text.rsplit(":", 2)
        return cls(write_id, int(chunks), int(shards))


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
    write_id: str = ""   # names this version's chunks
    chunks: int = 0
    expires_at: int = 0  # epoch seconds when its chunks expire (TTL); 0: never
    # Every set of chunks recorded for this kind that may still exist, this one included.
    write_sets: frozenset[WriteSet] = frozenset()

    def expired(self, at: float) -> bool:
        return bool(self.expires_at) and at >= self.expires_at

    def expiry_date(self) -> str:
        return datetime.fromtimestamp(self.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")

    def replaced_sets(self) -> list[WriteSet]:
        """Sets of chunks this kind no longer points at: safe to delete (see the module doc)."""
        return sorted((s for s in self.write_sets if s.write_id != self.write_id),
                      key=lambda s: s.write_id)


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
    read_at: float = 0.0  # epoch seconds: what "expired" is measured against

    def expired_kinds(self) -> list[str]:
        return [k for k in KINDS if k in self.files and self.files[k].status == ACCEPTED
                and self.files[k].expired(self.read_at)]

    def missing_kinds(self) -> list[str]:
        """Kinds with no accepted file whose rows are still kept."""
        expired = self.expired_kinds()
        return [k for k in KINDS
                if k not in self.files or self.files[k].status != ACCEPTED or k in expired]

    def expiry_problem(self) -> str:
        """Why an expired batch cannot be published, and what to do; "" if none expired."""
        expired = [self.files[k] for k in self.expired_kinds()]
        if not expired:
            return ""
        return "; ".join(f"the rows of the {r.kind} file {r.key} (processed {r.processed_at}) "
                         f"expired on {r.expiry_date()}" for r in expired) + (
            ": the stage keeps rows for ROW_RETENTION_DAYS days; upload the file again "
            "under the same key to publish the batch again")

    def version_key(self) -> str:
        """Names the exact file versions a publication is built from."""
        return ";".join(f"{k}={self.files[k].etag}" for k in KINDS)

    def versions(self) -> FileVersions:
        """The file versions as read, for a claim to check they are still current."""
        return FileVersions(self.version_key(), tuple((k, self.files[k].write_id) for k in KINDS))


@dataclass
class WriteProgress:
    """How far ``write_rows`` got: after a failure, which chunks may exist."""

    chunks_sent: int = 0


@dataclass(frozen=True)
class WrittenRows:
    write_id: str
    rows: int
    chunks: int
    expires_at: int


class StaleEventError(PipelineError):
    """A newer upload of the same file was recorded first; this event is out of date."""


class RowsMissingError(PipelineError):
    """A file version's chunks are not all in the table (replaced, expired, or lost)."""


def sequencer_order(sequencer: str) -> str:
    """S3 sequencers are hex numbers of varying length: pad them to compare as text."""
    return sequencer.upper().rjust(64, "0") if sequencer else ""


def write_id_for(key: str, etag: str, sequencer: str, event_time: str) -> str:
    """The write id of one S3 event's rows.

    The same event (a re-delivery, Lambda's retry) gets the same id, so it
    rewrites the same chunks. Two uploads differ in their sequencer or event
    time (emulators may repeat the sequencer, never the millisecond as well
    for one key); with neither to go by, the id is random.
    """
    if not (sequencer or event_time):
        return secrets.token_hex(10)
    identity = "\n".join((key, etag, sequencer, event_time)).encode("utf-8")
    return hashlib.sha256(identity).hexdigest()[:20]


def wall_clock() -> float:
    """Epoch seconds: what row expiry is measured against."""
    return time.time()


def rows_partition(batch_key: str, kind: str, write_id: str, slot: int) -> str:
    return f"rows#{batch_key}#{kind}#{write_id}#{slot}"


def chunk_sort_key(number: int) -> str:
    return f"{number:06d}"  # sorts as numbers do: a file has at most a few thousand chunks


class BatchStore:
    def __init__(self, client, table_name: str, shards: int = 8, max_attempts: int = 8,
                 sleep: Callable[[float], None] = time.sleep, writers: int = 4,
                 retention_days: int = 30, clock: Callable[[], float] | None = None) -> None:
        self._client = client
        self._writers = writers
        self._table = table_name
        self.shards = shards
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._retention_seconds = retention_days * _DAY_SECONDS
        self._clock = clock or (lambda: wall_clock())  # looked up per call: tests move it
        self.items_written = 0  # chunk items this store has put, for the summary line
        self.write_units = 0    # what they cost, by DynamoDB's rule (ceil(bytes / 1 KB) each)
        self.items_deleted = 0

    # --- rows -----------------------------------------------------------------
    def write_rows(self, batch_key: str, kind: str, write_id: str, rows: Iterable,
                   progress: WriteProgress | None = None) -> WrittenRows:
        """Put every row of one file version as chunks; return what was written.

        Groups of up to 25 chunks go out on ``writers`` threads; at most twice
        that many groups wait, so memory stays bounded however long the file is.
        A failure (a bad row, an error) stops what has not started and raises.
        """
        progress = progress or WriteProgress()
        expires_at = int(self._clock()) + self._retention_seconds
        count = chunks = 0
        group: list[dict] = []
        group_bytes = 0
        in_flight: deque[Future] = deque()
        with ThreadPoolExecutor(max_workers=self._writers, thread_name_prefix="batch-write") as pool:

            def send(requests: list[dict]) -> None:
                in_flight.append(pool.submit(self._batch_write, requests))
                if len(in_flight) >= 2 * self._writers:
                    in_flight.popleft().result()

            try:
                # Read at call time: tests make chunks small to get many of them.
                for chunk in cut_chunks(kind, rows, row_chunks.CHUNK_RAW_BYTES):
                    item = self._chunk_item(batch_key, kind, write_id, chunk, expires_at)
                    size = item_size(item)
                    if group and (len(group) == _BATCH_WRITE_SIZE
                                  or group_bytes + size > _BATCH_WRITE_BYTES):
                        send(group)
                        group, group_bytes = [], 0
                    group.append({"PutRequest": {"Item": item}})
                    group_bytes += size
                    count += chunk.rows
                    chunks += 1
                    progress.chunks_sent = chunks
                    self.items_written += 1
                    self.write_units += write_units(size)
                if group:
                    send(group)
                while in_flight:
                    in_flight.popleft().result()
            finally:
                for future in in_flight:  # a failure (or bad row) stops what has not started
                    future.cancel()
        return WrittenRows(write_id, count, chunks, expires_at)

    def _chunk_item(self, batch_key: str, kind: str, write_id: str, chunk: Chunk,
                    expires_at: int) -> dict:
        return {"pk": {"S": rows_partition(batch_key, kind, write_id, chunk.number % self.shards)},
                "sk": {"S": chunk_sort_key(chunk.number)},
                "row_count": {"N": str(chunk.rows)},
                "data": {"B": chunk.data},
                "expires_at": {"N": str(expires_at)}}

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

    def delete_rows(self, batch_key: str, kind: str, write_set: WriteSet) -> None:
        """Delete one set of chunks (deleting a chunk that is not there is a no-op)."""
        keys = [{"DeleteRequest": {"Key": {
            "pk": {"S": rows_partition(batch_key, kind, write_set.write_id, n % write_set.shards)},
            "sk": {"S": chunk_sort_key(n)}}}} for n in range(write_set.chunks)]
        for start in range(0, len(keys), _BATCH_WRITE_SIZE):
            self.items_deleted += self._batch_write(keys[start:start + _BATCH_WRITE_SIZE])

    def forget_write_set(self, batch_key: str, kind: str, write_set: WriteSet) -> None:
        """Drop a deleted set from the file record's list (its id stays refused)."""
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": batch_scope(batch_key)}, "sk": {"S": f"file#{kind}"}},
            UpdateExpression="DELETE write_sets :set",
            ExpressionAttributeValues={":set": {"SS": [write_set.encode()]}})

    def read_rows(self, batch_key: str, kind: str, record: FileRecord) -> Iterator:
        """Every row of the file version ``record`` names, in file order.

        The version's slots are read by parallel Queries, each a few chunks
        ahead; chunks are taken from them in turn (chunk ``n`` is in slot
        ``n mod shards``), so the rows come out in file order. A chunk that is
        missing, or expired but not yet removed by TTL, raises
        ``RowsMissingError`` rather than give a batch without its rows.
        """
        if record.chunks == 0:
            return
        slots = min(record.shards, record.chunks)
        stop = threading.Event()
        readers = [_SlotReader(self._client, self._table, stop,
                               rows_partition(batch_key, kind, record.write_id, slot),
                               int(self._clock())) for slot in range(slots)]
        for reader in readers:
            reader.start()
        rows = 0
        try:
            for number in range(record.chunks):
                item = readers[number % slots].next_item()
                if item is None or item["sk"]["S"] != chunk_sort_key(number):
                    raise RowsMissingError(
                        f"chunk {number} of the {kind} file {record.key} (version "
                        f"{record.etag}) is missing from table {self._table}")
                decoded = decode_chunk(kind, item["data"]["B"])
                rows += len(decoded)
                yield from decoded
        finally:
            stop.set()
        if rows != record.rows:
            raise RowsMissingError(f"the {kind} file {record.key} has {rows} rows in table "
                                   f"{self._table}, not the {record.rows} recorded")

    # --- files and publication ------------------------------------------------
    def record_file(self, batch_key: str, record: FileRecord) -> FileRecord | None:
        """Make ``record`` the batch's current file of its kind; return the one it replaced.

        Refused (``StaleEventError``) when a newer upload of the key was
        recorded first, or when ``record.write_id`` was recorded before and has
        since been replaced: a replaced set may be being deleted, so it must
        never become current again.
        """
        values: dict[str, dict[str, Any]] = {
            "object_key": {"S": record.key}, "etag": {"S": record.etag},
            "file_status": {"S": record.status}, "rows": {"N": str(record.rows)},
            "shards": {"N": str(record.shards)}, "processed_at": {"S": record.processed_at},
            "problem_count": {"N": str(record.problem_count)},
            "write_id": {"S": record.write_id}, "chunks": {"N": str(record.chunks)},
            "expires_at": {"N": str(record.expires_at)},
        }
        if record.sequencer:
            values["sequencer"] = {"S": sequencer_order(record.sequencer)}
        if record.report_key:
            values["report_key"] = {"S": record.report_key}
        names = {f"#{name}": name for name in values}
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in values)
        if not record.report_key:
            update += " REMOVE report_key"
        update += " ADD write_ids :ids, write_sets :sets"
        attribute_values = {f":{name}": value for name, value in values.items()}
        attribute_values.update({
            ":ids": {"SS": [record.write_id]},
            ":sets": {"SS": [WriteSet(record.write_id, record.chunks, record.shards).encode()]}})
        # Newest wins: S3 may deliver the events of two quick uploads of one key
        # out of order; an event older than the one recorded must not overwrite it.
        # A batch is its folder's, so this item is only ever written for one key,
        # whose events the sequencer orders. (Emulators may send one constant
        # sequencer: equal values are let through, and the IfMatch read has
        # already dropped events for overwritten content.)
        # An event without a sequencer (some emulators send none) cannot be
        # ordered: it is let through, and keeps the sequencer recorded before
        # for the events that can be.
        not_older = "(attribute_not_exists(#sequencer) OR #sequencer <= :sequencer)"
        never_replaced = ("(attribute_not_exists(write_ids) OR #write_id = :write_id "
                          "OR NOT contains(write_ids, :write_id))")
        condition = f"{not_older} AND {never_replaced}" if record.sequencer else never_replaced
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": batch_scope(batch_key)}, "sk": {"S": f"file#{record.kind}"}},
                UpdateExpression=update, ConditionExpression=condition,
                ExpressionAttributeNames=names, ExpressionAttributeValues=attribute_values,
                ReturnValues="ALL_OLD")
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            raise StaleEventError(f"a newer upload of {record.key} was processed first") from exc
        old = response.get("Attributes")
        return _file_record_from_item(old) if old else None

    def read_batch(self, batch_key: str) -> BatchState:
        state = BatchState(batch_key, read_at=self._clock())
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
                elif sk == PUBLICATION_SORT_KEY:
                    state.publication = publication_from_item(item)
                elif sk.startswith(_MISNAMED):
                    state.misnamed.append(_misnamed_from_item(item))
        return state

    # --- misnamed uploads -----------------------------------------------------
    def record_misnamed(self, scope: str, record: MisnamedFile) -> None:
        """Note a misnamed upload under ``scope`` (``batch#<key>`` or ``folder#<folder>``)."""
        item = {"pk": {"S": scope}, "sk": {"S": _MISNAMED + record.file_name},
                "object_key": {"S": record.key}, "report_key": {"S": record.report_key},
                "reason": {"S": record.reason}, "processed_at": {"S": record.processed_at}}
        if record.kind:
            item["kind"] = {"S": record.kind}
        self._client.put_item(TableName=self._table, Item=item)

    def misnamed_in_folder(self, folder: str) -> list[MisnamedFile]:
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


def _file_record_from_item(item: dict) -> FileRecord:
    return FileRecord(
        kind=item["sk"]["S"][len("file#"):], key=item["object_key"]["S"], etag=item["etag"]["S"],
        status=item["file_status"]["S"], rows=int(item["rows"]["N"]),
        shards=int(item["shards"]["N"]), processed_at=item["processed_at"]["S"],
        problem_count=int(item["problem_count"]["N"]),
        report_key=item.get("report_key", {}).get("S", ""),
        sequencer=item.get("sequencer", {}).get("S", ""),
        write_id=item.get("write_id", {}).get("S", ""),
        chunks=int(item.get("chunks", {}).get("N", "0")),
        expires_at=int(item.get("expires_at", {}).get("N", "0")),
        write_sets=frozenset(map(WriteSet.decode, item.get("write_sets", {}).get("SS", []))))


class _SlotReader:
    """One slot's Query pages, read on a thread of its own a few chunks ahead."""

    _DONE = object()

    def __init__(self, client, table: str, stop: threading.Event, partition: str,
                 now: int) -> None:
        self._client = client
        self._table = table
        self._stop = stop
        self._partition = partition
        self._now = now
        self._items: queue.Queue = queue.Queue(maxsize=_READ_AHEAD_CHUNKS)
        self._thread = threading.Thread(target=self._read, name="chunk-read", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _read(self) -> None:
        try:
            paginator = self._client.get_paginator("query")
            for page in paginator.paginate(
                    TableName=self._table, ConsistentRead=True,
                    KeyConditionExpression="pk = :pk",
                    # Expired chunks stay readable until TTL removes them (within days).
                    FilterExpression="expires_at > :now",
                    ProjectionExpression="sk, #data",
                    ExpressionAttributeNames={"#data": "data"},
                    ExpressionAttributeValues={":pk": {"S": self._partition},
                                               ":now": {"N": str(self._now)}}):
                for item in page["Items"]:
                    if not self._put(item):
                        return
            self._put(self._DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader's consumer, in its thread
            self._put(exc)

    def _put(self, value) -> bool:
        while not self._stop.is_set():
            try:
                self._items.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next_item(self) -> dict | None:
        """The slot's next chunk item; None when it has no more."""
        value = self._items.get()
        if value is self._DONE:
            self._items.put(value)  # later calls see the end too
            return None
        if isinstance(value, BaseException):
            raise value
        return value


def batch_scope(batch_key: str) -> str:
    return f"batch#{batch_key}"


def folder_scope(folder: str) -> str:
    return f"folder#{folder}"


def _misnamed_from_item(item: dict) -> MisnamedFile:
    return MisnamedFile(key=item["object_key"]["S"], kind=item.get("kind", {}).get("S", ""),
                        report_key=item["report_key"]["S"], reason=item["reason"]["S"],
                        processed_at=item["processed_at"]["S"])
