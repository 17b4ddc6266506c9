"""A file version's rows in DynamoDB: compressed chunks, written, read back in order, deleted.

Each version's rows are a few chunk items (``row_chunks`` cuts and encodes
them), keyed ``rows#<batch key>#<kind>#<write id>#<slot>`` / chunk number:
chunk ``n`` under slot ``n mod shards``, so a large file's chunks spread over
partitions and a small one's single chunk is one Query. Each S3 event's rows
get a *write id* of their own (``records.write_id_for``): the same event
processed again rewrites the same items, and a re-upload, even of the same
bytes, writes a new set, which the file record lists (``WriteSet``) until a
publication deletes it. Chunks carry a TTL (``expires_at``): nothing is kept
forever; until TTL removes them, reads skip expired chunks.

Writes go out in BatchWriteItem groups on a few threads, with the
``UnprocessedItems`` written again; reads are parallel Queries, one per slot,
a few chunks ahead.
"""
from __future__ import annotations

import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from chalicelib.errors import PipelineError
from chalicelib.item_sizes import item_size, write_units
from chalicelib.row_chunks import CHUNK_RAW_BYTES, Chunk, cut_chunks, decode_chunk

BATCH_WRITE_SIZE = 25  # what BatchWriteItem takes at most
_BATCH_WRITE_BYTES = 12 * 1024 * 1024  # under BatchWriteItem's 16 MB
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


class RowsMissingError(PipelineError):
    """A file version's chunks are not all in the table (replaced, expired, or lost)."""


def rows_partition(batch_key: str, kind: str, write_id: str, slot: int) -> str:
    return f"rows#{batch_key}#{kind}#{write_id}#{slot}"


def chunk_sort_key(number: int) -> str:
    return f"{number:06d}"  # sorts as numbers do: a file has at most a few thousand chunks


class RowsVersion(Protocol):
    """What reading a version's rows back needs to know of it (a ``records.FileRecord``)."""

    @property
    def key(self) -> str: ...
    @property
    def etag(self) -> str: ...
    @property
    def write_id(self) -> str: ...
    @property
    def chunks(self) -> int: ...
    @property
    def shards(self) -> int: ...
    @property
    def rows(self) -> int: ...


class RowStore:
    """Chunks of file versions in ``table_name``.

    ``chunk_bytes`` (rows' bytes before compression per chunk) and
    ``group_size`` (chunks per BatchWriteItem) are DynamoDB's and the data's
    business; tests pass small ones to get many chunks and groups from small files.
    """

    def __init__(self, client, table_name: str, shards: int = 8, max_attempts: int = 8,
                 sleep: Callable[[float], None] = time.sleep, writers: int = 4,
                 retention_days: int = 30, clock: Callable[[], float] = time.time,
                 chunk_bytes: int = CHUNK_RAW_BYTES, group_size: int = BATCH_WRITE_SIZE) -> None:
        self._client = client
        self._writers = writers
        self._table = table_name
        self.shards = shards
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._retention_seconds = retention_days * _DAY_SECONDS
        self._clock = clock
        self._chunk_bytes = chunk_bytes
        self._group_size = group_size
        self.items_written = 0  # chunk items this store has put, for the summary line
        self.write_units = 0    # what they cost, by DynamoDB's rule (ceil(bytes / 1 KB) each)
        self.items_deleted = 0

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
                for chunk in cut_chunks(kind, rows, self._chunk_bytes):
                    item = self._chunk_item(batch_key, kind, write_id, chunk, expires_at)
                    size = item_size(item)
                    if group and (len(group) == self._group_size
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
        for start in range(0, len(keys), self._group_size):
            self.items_deleted += self._batch_write(keys[start:start + self._group_size])

    def read_rows(self, batch_key: str, kind: str, version: RowsVersion) -> Iterator:
        """Every row of the file version ``version`` names, in file order.

        The version's slots are read by parallel Queries, each a few chunks
        ahead; chunks are taken from them in turn (chunk ``n`` is in slot
        ``n mod shards``), so the rows come out in file order. A chunk that is
        missing, or expired but not yet removed by TTL, raises
        ``RowsMissingError`` rather than give a batch without its rows.
        """
        if version.chunks == 0:
            return
        slots = min(version.shards, version.chunks)
        stop = threading.Event()
        readers = [_SlotReader(self._client, self._table, stop,
                               rows_partition(batch_key, kind, version.write_id, slot),
                               int(self._clock())) for slot in range(slots)]
        for reader in readers:
            reader.start()
        rows = 0
        try:
            for number in range(version.chunks):
                item = readers[number % slots].next_item()
                if item is None or item["sk"]["S"] != chunk_sort_key(number):
                    raise RowsMissingError(
                        f"chunk {number} of the {kind} file {version.key} (version "
                        f"{version.etag}) is missing from table {self._table}")
                decoded = decode_chunk(kind, item["data"]["B"])
                rows += len(decoded)
                yield from decoded
        finally:
            stop.set()
        if rows != version.rows:
            raise RowsMissingError(f"the {kind} file {version.key} has {rows} rows in table "
                                   f"{self._table}, not the {version.rows} recorded")


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
