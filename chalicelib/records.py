"""A batch's records in DynamoDB: its files' versions, its publication, its misnamed uploads.

One table, string keys ``pk`` / ``sk``:

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
with the same batch id are two batches, with keys of their own. The rows
themselves are chunk items of their own (``row_store``); the publication's
claim is ``publication``'s.

Rows are stored per file *version*, never merged into totals: a changed upload
lands beside the old one instead of adding to it, and totals are recomputed
from the current versions when a batch is published. The file record lists
every set of chunks (``row_store.WriteSet``) it ever pointed at; once a set is
replaced it can never be recorded again, so a publication can delete replaced
sets without ever touching one that a current or concurrent ingest needs.
Every read is a Query by partition key: there is no Scan.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from chalicelib.errors import PipelineError
from chalicelib.keys import KINDS, within_key_limit
from chalicelib.publication import PUBLICATION_SORT_KEY, FileVersions, Publication, publication_from_item
from chalicelib.row_store import WriteSet

_MISNAMED = "misnamed#"


class FileStatus(StrEnum):
    """What a file version was found to be."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


ACCEPTED, REJECTED = FileStatus.ACCEPTED, FileStatus.REJECTED


@dataclass(frozen=True)
class FileRecord:
    kind: str
    key: str
    etag: str
    status: str  # a FileStatus
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


class StaleEventError(PipelineError):
    """A newer upload of the same file was recorded first; this event is out of date."""


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


class BatchRecords:
    """The records of the batches in ``table_name``; ``clock`` (epoch seconds) is what row
    expiry is measured against."""

    def __init__(self, client, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

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

    def confirm_current(self, batch_key: str, kind: str, write_id: str, sequencer: str) -> bool:
        """An event of the content already recorded (``write_id``): record its sequencer, so
        that an invocation still working on an older upload can no longer replace it.

        S3 may hold A, then B, then A again while B's invocation still runs: A's second
        event changes no rows, but it is the newest upload, and B's record must now be
        refused as older. False when the record is no longer ``write_id`` (another
        version was recorded meanwhile: this event's content must be written again).
        """
        if not sequencer:
            return True  # nothing to order by; the IfMatch read already dropped older content
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": batch_scope(batch_key)}, "sk": {"S": f"file#{kind}"}},
                UpdateExpression="SET #sequencer = :sequencer",
                ConditionExpression=("#write_id = :write_id AND (attribute_not_exists(#sequencer) "
                                     "OR #sequencer < :sequencer)"),
                ExpressionAttributeNames={"#sequencer": "sequencer", "#write_id": "write_id"},
                ExpressionAttributeValues={":sequencer": {"S": sequencer_order(sequencer)},
                                           ":write_id": {"S": write_id}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            old = exc.response.get("Item")
            # The same version with this or a newer sequencer: a re-delivery, or an older
            # event of the same content; the record is right as it is.
            return bool(old) and old.get("write_id", {}).get("S") == write_id
        return True

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

    def forget_write_set(self, batch_key: str, kind: str, write_set: WriteSet) -> None:
        """Drop a deleted set from the file record's list (its id stays refused)."""
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": batch_scope(batch_key)}, "sk": {"S": f"file#{kind}"}},
            UpdateExpression="DELETE write_sets :set",
            ExpressionAttributeValues={":set": {"SS": [write_set.encode()]}})

    # --- misnamed uploads -----------------------------------------------------
    def record_misnamed(self, scope: str, record: MisnamedFile) -> None:
        """Note a misnamed upload under ``scope`` (``batch#<key>`` or ``folder#<folder>``)."""
        item = {"pk": {"S": scope}, "sk": {"S": _misnamed_sort_key(record.file_name)},
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
                                 Key={"pk": {"S": scope}, "sk": {"S": _misnamed_sort_key(file_name)}})


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


def batch_scope(batch_key: str) -> str:
    return f"batch#{batch_key}"


def folder_scope(folder: str) -> str:
    return f"folder#{folder}"


def _misnamed_sort_key(file_name: str) -> str:
    # The name is also in the item (object_key): the sort key only has to be the name's own.
    return within_key_limit(_MISNAMED + file_name)


def _misnamed_from_item(item: dict) -> MisnamedFile:
    return MisnamedFile(key=item["object_key"]["S"], kind=item.get("kind", {}).get("S", ""),
                        report_key=item["report_key"]["S"], reason=item["reason"]["S"],
                        processed_at=item["processed_at"]["S"])
