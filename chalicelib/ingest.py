"""A file version into the store: read as it streams from S3, validated, written, recorded.

1. The object is read with ``IfMatch`` on the ETag its event names: an event
   for content that has since been overwritten is *superseded* (the newer
   upload has an event of its own).
2. A version already recorded as the batch's file of its kind is a
   *duplicate* (a re-delivered event, an identical re-upload): nothing to write.
3. Otherwise its rows are parsed and validated as they stream, and written as
   that version's chunks under the event's write id; then the file record
   points at the version. An invalid file is rejected as a whole, with a
   report, and the rows written before its first problem are deleted.

Writing rows before the record, and the write id of the event, make every
step safe to run again: a retry after a crash anywhere converges.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.errors import InvalidFileError, Problem, RejectedInputError
from chalicelib.keys import KINDS, ObjectName
from chalicelib.misnamed import MisnamedUploads
from chalicelib.outcome import OutcomeStatus
from chalicelib.parsing import ParseStats, parse_rows
from chalicelib.records import (
    ACCEPTED,
    REJECTED,
    BatchRecords,
    BatchState,
    FileRecord,
    StaleEventError,
    batch_scope,
    write_id_for,
)
from chalicelib.reports import ReportWriter, rejection_report_key
from chalicelib.row_store import RowStore, WriteProgress, WriteSet
from chalicelib.telemetry import Telemetry

READ_BYTES = 1024 * 1024  # what one read of the object's stream asks for


@dataclass
class Ingested:
    """What became of one file version."""

    status: OutcomeStatus
    rows: int = 0           # rows of the version now in the store
    rows_read: int = 0      # data rows this invocation read
    rows_rejected: int = 0  # of those, rows with a problem
    problem_count: int = 0
    report_key: str = ""
    error: str = ""
    batch: BatchState | None = None  # as read once the version is in the store

    @property
    def in_store(self) -> bool:
        """Whether the batch's file of this kind is this version now (its batch may be complete)."""
        return self.status in (OutcomeStatus.ACCEPTED, OutcomeStatus.DUPLICATE)


class Ingest:
    def __init__(self, s3, records: BatchRecords, rows: RowStore, reports: ReportWriter,
                 misnamed: MisnamedUploads, telemetry: Telemetry, max_file_bytes: int,
                 now: Callable[[], str]) -> None:
        self._s3 = s3
        self._records = records
        self._rows = rows
        self._reports = reports
        self._misnamed = misnamed
        self._telemetry = telemetry
        self._max_file_bytes = max_file_bytes
        self._now = now

    def ingest(self, bucket: str, name: ObjectName, event_etag: str, sequencer: str,
               event_time: str) -> Ingested:
        try:
            obj = self._s3.get_object(Bucket=bucket, Key=name.key,
                                      **({"IfMatch": event_etag} if event_etag else {}))
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code not in ("PreconditionFailed", "412", "NoSuchKey"):
                raise
            return Ingested(OutcomeStatus.SUPERSEDED,
                            error=f"the object changed or was deleted after this event ({code})")
        etag = obj["ETag"].strip('"')
        self._telemetry.file_identified(name.batch_id, name.kind, etag, name.folder)
        ingested = self._ingest_if_new(name, obj, etag, sequencer, event_time)
        if ingested.in_store:
            ingested.batch = self._clear_reports_of(name)
        return ingested

    def _ingest_if_new(self, name: ObjectName, obj: dict, etag: str, sequencer: str,
                       event_time: str) -> Ingested:
        state = self._records.read_batch(name.batch.key)
        current = state.files.get(name.kind)
        if (current and current.etag == etag and current.key == name.key
                and current.status == ACCEPTED and not current.expired(state.read_at)
                and self._records.confirm_current(name.batch.key, name.kind, current.write_id,
                                                  sequencer)):
            obj["Body"].close()  # the rows are in already
            return Ingested(OutcomeStatus.DUPLICATE, rows=current.rows)
        stats = ParseStats()
        write_id = write_id_for(name.key, etag, sequencer, event_time)
        progress = WriteProgress()
        try:
            rows = self._write_and_record(name, etag, sequencer, write_id, obj, stats, progress)
        except RejectedInputError as exc:
            partial = WriteSet(write_id, progress.chunks_sent, self._rows.shards)
            ingested = self._reject(name, etag, sequencer, exc, partial)
        except StaleEventError as exc:
            ingested = Ingested(OutcomeStatus.SUPERSEDED, error=str(exc))
        else:
            ingested = Ingested(OutcomeStatus.ACCEPTED, rows=rows)
        ingested.rows_read, ingested.rows_rejected = stats.rows_read, stats.rows_rejected
        return ingested

    def _write_and_record(self, name: ObjectName, etag: str, sequencer: str, write_id: str,
                          obj: dict, stats: ParseStats, progress: WriteProgress) -> int:
        size = obj["ContentLength"]
        if size > self._max_file_bytes:
            obj["Body"].close()
            raise InvalidFileError(name.file_name, [Problem(
                0, "", "", f"{size:,} bytes is more than the limit of {self._max_file_bytes:,} "
                           f"bytes (MAX_FILE_BYTES), what one invocation can process in time")],
                hint=split_hint(name, size, self._max_file_bytes))
        rows = parse_rows(name.kind, obj["Body"].iter_chunks(READ_BYTES), name.file_name, stats=stats)
        written = self._rows.write_rows(name.batch.key, name.kind, write_id, rows, progress)
        record = FileRecord(
            kind=name.kind, key=name.key, etag=etag, status=ACCEPTED, rows=written.rows,
            shards=self._rows.shards, processed_at=self._now(), sequencer=sequencer,
            write_id=write_id, chunks=written.chunks, expires_at=written.expires_at)
        try:
            self._records.record_file(name.batch.key, record)
        except StaleEventError:
            # Never recorded, and now never can be: nobody reads these chunks.
            self._rows.delete_rows(name.batch.key, name.kind,
                                   WriteSet(write_id, written.chunks, self._rows.shards))
            raise
        return written.rows

    def _reject(self, name: ObjectName, etag: str, sequencer: str, error: RejectedInputError,
                partial: WriteSet) -> Ingested:
        report_key = rejection_report_key(name.batch.key, name.file_name)
        now = self._now()
        try:
            self._records.record_file(name.batch.key, FileRecord(
                kind=name.kind, key=name.key, etag=etag, status=REJECTED, rows=0,
                shards=partial.shards, processed_at=now, problem_count=error.problem_count,
                report_key=report_key, sequencer=sequencer, write_id=partial.write_id,
                chunks=partial.chunks))
        except StaleEventError as exc:
            self._rows.delete_rows(name.batch.key, name.kind, partial)
            return Ingested(OutcomeStatus.SUPERSEDED, error=str(exc))
        # Written after the record, so that a stale event leaves no report; a
        # crash in between is repaired by the retry, which writes it again.
        self._reports.write_rejection(report_key, name.key, etag, error, now)
        # The rows read before the first problem were written: nobody will read them.
        # (Recorded first, so a crash here leaves them listed for the next publication.)
        if partial.chunks:
            retire(self._records, self._rows, name.batch.key, name.kind, partial)
        # The outcome is logged (by the function and by Lambda's destinations): no values.
        return Ingested(OutcomeStatus.REJECTED, report_key=report_key,
                        error=error.summary(with_values=False),
                        problem_count=error.problem_count)

    def _clear_reports_of(self, name: ObjectName) -> BatchState:
        """The version in the store replaces any rejected one, and is the file that misnamed
        uploads of its kind meant: their reports are history. Also for a duplicate, in case
        the invocation that recorded it failed before it got here (a missing report is no
        matter). Returns the batch as read then."""
        self._reports.delete(rejection_report_key(name.batch.key, name.file_name))
        state = self._records.read_batch(name.batch.key)
        self._misnamed.forget(batch_scope(name.batch.key),
                              [m for m in state.misnamed if m.kind == name.kind])
        return state


def retire(records: BatchRecords, rows: RowStore, batch_key: str, kind: str,
           write_set: WriteSet) -> None:
    """Delete a recorded set of chunks, then drop it from its file record's list."""
    rows.delete_rows(batch_key, kind, write_set)
    records.forget_write_set(batch_key, kind, write_set)


def split_hint(name: ObjectName, size: int, limit: int) -> str:
    """What to do with a file too large for one invocation."""
    parts = -(-size // limit)
    others = " and ".join(k for k in KINDS if k != name.kind)
    return (f"Split the batch into {parts} or more batches whose files are each at most "
            f"{limit:,} bytes: keep each customer's orders, and each order's items, in the "
            f"same batch as the customer, and give each its own batch id "
            f"(e.g. {name.kind}_{name.batch_id}-1.csv ... {name.kind}_{name.batch_id}-{parts}.csv, "
            f"each with the {others} files of its batch).")
