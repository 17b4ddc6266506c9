"""What happens when an object lands in the ingest bucket.

1. The key names the file's folder, kind and batch (a batch is its folder's);
   the object's ETag names its version. A key that is not
   ``<kind>_<batch id>.csv`` gets a report that says what is wrong with it,
   filed with the batch it names where one can be read from it.
2. The rows are parsed and validated as they stream from S3 and written to that
   version's row items. An invalid file is rejected as a whole: a report goes to
   ``reports/<folder>/<batch>/<file>.json`` in the results bucket and the batch
   waits for a corrected upload.
3. The file record of the batch now points at this version.
4. If the batch has an accepted file of every kind, one invocation claims the
   next revision (a conditional write) and publishes one message per customer.

Steps 2 and 3 are idempotent and step 4 is claimed once per set of file
versions, so a re-delivered or retried event converges to the same result.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from chalicelib.aggregation import BatchSummary
from chalicelib.errors import (
    BatchNotFoundError,
    BatchNotReadyError,
    InvalidFileError,
    Problem,
    RejectedInputError,
    missing_resource,
)
from chalicelib.keys import KINDS, BatchRef, MisnamedObjectError, ObjectName, parse_object_key, split_key
from chalicelib.model import CustomerMessage
from chalicelib.parsing import ParseStats, parse_rows
from chalicelib.partitioning import batch_messages, partition_count
from chalicelib.publication import Claim, ClaimLostError, Publication, PublicationBusyError, PublicationClaims
from chalicelib.publisher import SqsPublisher
from chalicelib.reports import ReportWriter, rejection_report_key, unknown_name_report_key
from chalicelib.store import (
    ACCEPTED,
    REJECTED,
    SUPERSEDED,
    BatchState,
    BatchStore,
    FileRecord,
    MisnamedFile,
    RowsMissingError,
    StaleEventError,
    WriteProgress,
    WriteSet,
    batch_scope,
    folder_scope,
    write_id_for,
)
from chalicelib.telemetry import Telemetry, tracer

_CHUNK_BYTES = 1024 * 1024
# What an invocation keeps for itself after waiting out an earlier attempt's
# lease: if less would be left, it leaves the revision to a later retry.
_TIME_KEPT_FOR_PUBLISHING_MS = 60_000


@dataclass
class Outcome:
    """What one invocation did; returned by the handler and logged."""

    key: str
    status: str  # accepted | duplicate | rejected | superseded | ignored
    batch_id: str = ""
    folder: str = ""
    kind: str = ""
    rows: int = 0           # rows of the file version now in the store
    rows_read: int = 0      # data rows this invocation read
    rows_rejected: int = 0  # of those, rows with a problem
    problem_count: int = 0
    waiting_for: list[str] = field(default_factory=list)
    published_revision: int = 0
    messages: int = 0
    report_key: str = ""
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Invocation:
    """The Lambda invocation at work: its request id (which Lambda's retries of an
    event keep) and the time it has left (``context.get_remaining_time_in_millis``)."""

    request_id: str
    remaining_ms: Callable[[], float] = lambda: 15 * 60 * 1000.0

    @classmethod
    def named(cls, request_id: str = "",
              remaining_ms: Callable[[], float] | None = None) -> Invocation:
        """An invocation; without a request id (a direct call) a new one of its own."""
        invocation = cls(request_id or f"direct-{uuid.uuid4()}")
        return invocation if remaining_ms is None else cls(invocation.request_id, remaining_ms)


class Pipeline:
    def __init__(self, s3, store: BatchStore, publisher: SqsPublisher, reports: ReportWriter,
                 max_file_bytes: int, telemetry: Telemetry, claims: PublicationClaims,
                 now: Callable[[], str] = utc_now,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._s3 = s3
        self._telemetry = telemetry
        self._store = store
        self._publisher = publisher
        self._reports = reports
        self._max_file_bytes = max_file_bytes
        self._claims = claims
        self._now = now
        self._sleep = sleep

    def process_record(self, record: dict, invocation_id: str = "",
                       remaining_ms: Callable[[], float] | None = None) -> Outcome:
        """Handle one record of an S3 event (keys in events are URL-encoded)."""
        obj = record["s3"]["object"]
        return self.process_object(record["s3"]["bucket"]["name"], unquote_plus(obj["key"]),
                                   etag=obj.get("eTag", ""), sequencer=obj.get("sequencer", ""),
                                   invocation_id=invocation_id, size=obj.get("size"),
                                   event_time=record.get("eventTime", ""),
                                   remaining_ms=remaining_ms)

    @tracer.capture_method
    def process_object(self, bucket: str, key: str, etag: str = "", sequencer: str = "",
                       invocation_id: str = "", size: int | None = None,
                       event_time: str = "",
                       remaining_ms: Callable[[], float] | None = None) -> Outcome:
        """Process the object ``key``; with ``etag``, only if that is still its content."""
        started = time.monotonic()
        invocation = Invocation.named(invocation_id, remaining_ms)
        written_before, units_before = self._store.items_written, self._store.write_units
        self._telemetry.start(key, invocation.request_id)
        try:
            try:
                name = parse_object_key(key)
            except MisnamedObjectError as exc:
                if key.endswith("/") and size == 0:
                    # What the S3 console's "Create folder" makes: no file, nothing to say.
                    outcome = Outcome(key=key, status="ignored", error="a folder, not a file")
                else:
                    outcome = self._misnamed(key, etag.strip('"'), exc)
            else:
                self._telemetry.file_identified(name.batch_id, name.kind, etag.strip('"'),
                                                name.folder)
                outcome = self._process_file(bucket, name, etag.strip('"'), sequencer, event_time,
                                             invocation)
        except Exception as exc:
            # Logged here with the invocation's keys; raised on, so that it is retried.
            self._telemetry.logger.exception("processing failed; the event will be retried")
            missing = missing_resource(exc, self._telemetry.stage)
            if missing is not None:
                raise missing from exc
            raise
        self._telemetry.file_done(
            outcome.status, outcome.kind, rows_read=outcome.rows_read,
            rows_rejected=outcome.rows_rejected,
            writes=self._store.items_written - written_before,
            write_units=self._store.write_units - units_before,
            duration_ms=(time.monotonic() - started) * 1000, problem_count=outcome.problem_count,
            report_key=outcome.report_key, detail=outcome.error)
        return outcome

    def _process_file(self, bucket: str, name: ObjectName, event_etag: str,
                      sequencer: str, event_time: str, invocation: Invocation) -> Outcome:
        outcome = Outcome(key=name.key, status=ACCEPTED, batch_id=name.batch_id,
                          folder=name.folder, kind=name.kind)
        try:
            # IfMatch: an event for content that has since been overwritten is
            # superseded; the newer upload has an event of its own.
            obj = self._s3.get_object(Bucket=bucket, Key=name.key,
                                      **({"IfMatch": event_etag} if event_etag else {}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("PreconditionFailed", "412", "NoSuchKey"):
                raise
            outcome.status = SUPERSEDED
            outcome.error = (f"the object changed or was deleted after this event "
                             f"({exc.response['Error']['Code']})")
            return outcome
        etag = obj["ETag"].strip('"')
        self._telemetry.file_identified(name.batch_id, name.kind, etag, name.folder)
        before = self._store.read_batch(name.batch.key)
        current = before.files.get(name.kind)
        if (current and current.etag == etag and current.key == name.key
                and current.status == ACCEPTED and not current.expired(before.read_at)):
            # A re-delivered event or an identical re-upload: the rows are in already.
            obj["Body"].close()
            outcome.status, outcome.rows = "duplicate", current.rows
        else:
            stats = ParseStats()
            write_id = write_id_for(name.key, etag, sequencer, event_time)
            progress = WriteProgress()
            try:
                outcome.rows = self._ingest(name, etag, sequencer, write_id, obj, stats, progress)
            except RejectedInputError as exc:
                return self._reject(name, etag, sequencer, exc, outcome,
                                    WriteSet(write_id, progress.chunks_sent, self._store.shards))
            except StaleEventError as exc:
                outcome.status, outcome.error = SUPERSEDED, str(exc)
                return outcome
            finally:
                outcome.rows_read, outcome.rows_rejected = stats.rows_read, stats.rows_rejected
        # The accepted version replaces any rejected one: its report is history.
        # Also on a duplicate, in case the invocation that recorded this version
        # failed before it got here. (Deleting a missing object is a no-op.)
        self._reports.delete(rejection_report_key(name.batch.key, name.file_name))
        state = self._store.read_batch(name.batch.key)
        # So are the reports of misnamed uploads of this kind: this is the file they meant.
        self._forget_misnamed(batch_scope(name.batch.key),
                              [m for m in state.misnamed if m.kind == name.kind])
        # Always check completion, also for a duplicate: the invocation that
        # recorded the file may have crashed before it published.
        self._publish_if_complete(name.batch, state, outcome, invocation)
        return outcome

    def _misnamed(self, key: str, etag: str, error: MisnamedObjectError) -> Outcome:
        """Report a key that is not ``<kind>_<batch id>.csv``; where it names a batch, file it there."""
        folder, file_name = split_key(key)
        if error.batch is not None:
            scope, report_key = batch_scope(error.batch.key), rejection_report_key(error.batch.key,
                                                                                   file_name)
        else:
            scope, report_key = folder_scope(folder), unknown_name_report_key(key)
        now = self._now()
        # Recorded first: a crash before the report is written is repaired by the retry.
        self._store.record_misnamed(scope, MisnamedFile(
            key=key, kind=error.kind or "", report_key=report_key,
            reason="; ".join(p.reason for p in error.problems), processed_at=now))
        self._reports.write_rejection(report_key, key, etag, error, now)
        return Outcome(key=key, status=REJECTED, batch_id=error.batch.batch_id if error.batch else "",
                       folder=folder, kind=error.kind or "", report_key=report_key,
                       error=str(error), problem_count=error.problem_count)

    def _forget_misnamed(self, scope: str, misnamed: list[MisnamedFile]) -> None:
        for record in misnamed:
            self._reports.delete(record.report_key)
            self._store.forget_misnamed(scope, record.file_name)

    def _ingest(self, name: ObjectName, etag: str, sequencer: str, write_id: str, obj: dict,
                stats: ParseStats, progress: WriteProgress) -> int:
        size = obj["ContentLength"]
        if size > self._max_file_bytes:
            obj["Body"].close()
            raise InvalidFileError(name.file_name, [Problem(
                0, "", "", f"{size:,} bytes is more than the limit of {self._max_file_bytes:,} "
                           f"bytes (MAX_FILE_BYTES), what one invocation can process in time")],
                hint=split_hint(name, size, self._max_file_bytes))
        rows = parse_rows(name.kind, obj["Body"].iter_chunks(_CHUNK_BYTES), name.file_name,
                          stats=stats)
        written = self._store.write_rows(name.batch.key, name.kind, write_id, rows, progress)
        record = FileRecord(
            kind=name.kind, key=name.key, etag=etag, status=ACCEPTED, rows=written.rows,
            shards=self._store.shards, processed_at=self._now(), sequencer=sequencer,
            write_id=write_id, chunks=written.chunks, expires_at=written.expires_at)
        try:
            self._store.record_file(name.batch.key, record)
        except StaleEventError:
            # Never recorded, and now never can be: nobody reads these chunks.
            self._store.delete_rows(name.batch.key, name.kind,
                                    WriteSet(write_id, written.chunks, self._store.shards))
            raise
        return written.rows

    def _retire(self, batch_key: str, kind: str, write_set: WriteSet) -> None:
        """Delete a recorded set of chunks, then drop it from its file record's list."""
        self._store.delete_rows(batch_key, kind, write_set)
        self._store.forget_write_set(batch_key, kind, write_set)

    def _reject(self, name: ObjectName, etag: str, sequencer: str, error: RejectedInputError,
                outcome: Outcome, partial: WriteSet) -> Outcome:
        report_key = rejection_report_key(name.batch.key, name.file_name)
        now = self._now()
        try:
            self._store.record_file(name.batch.key, FileRecord(
                kind=name.kind, key=name.key, etag=etag, status=REJECTED, rows=0,
                shards=partial.shards, processed_at=now, problem_count=error.problem_count,
                report_key=report_key, sequencer=sequencer, write_id=partial.write_id,
                chunks=partial.chunks))
        except StaleEventError as exc:
            self._store.delete_rows(name.batch.key, name.kind, partial)
            outcome.status, outcome.error = SUPERSEDED, str(exc)
            return outcome
        # Written after the record, so that a stale event leaves no report; a
        # crash in between is repaired by the retry, which writes it again.
        self._reports.write_rejection(report_key, name.key, etag, error, now)
        # The rows read before the first problem were written: nobody will read them.
        # (Recorded first, so a crash here leaves them listed for the next publication.)
        if partial.chunks:
            self._retire(name.batch.key, name.kind, partial)
        outcome.status, outcome.report_key, outcome.error = REJECTED, report_key, str(error)
        outcome.problem_count = error.problem_count
        return outcome

    @tracer.capture_method
    def _publish_if_complete(self, batch: BatchRef, state: BatchState, outcome: Outcome,
                             invocation: Invocation) -> None:
        outcome.waiting_for = state.missing_kinds()
        if outcome.waiting_for:
            if state.expiry_problem() and not outcome.error:
                outcome.error = state.expiry_problem()
            return
        claim = self._claim(batch, state, invocation)
        if claim is not None:
            self._publish(batch, state, claim, outcome)

    def _claim(self, batch: BatchRef, state: BatchState, invocation: Invocation) -> Claim | None:
        """This invocation's claim on the revision of the batch's current files; None: not its to send.

        A new set of file versions gets a new revision. A revision claimed but
        not published is left to its holder while the holder's lease lives
        (an S3 duplicate of the event, or an identical re-upload, runs beside
        it); once the lease has ended, its holder was stopped, and the claim
        is taken over.
        """
        version_key = state.version_key()
        publication = state.publication
        if publication is None or publication.version_key != version_key:
            return self._claims.claim(batch.key, state.versions(), invocation.request_id,
                                      latest=publication)
        if publication.published:
            return None
        if publication.lease_live(self._claims.clock()):
            if publication.claimed_by != invocation.request_id:
                return None  # its holder is sending it
            # Lambda retries an event only once its attempt has ended, so this
            # claim's holder is gone, but its lease still runs: wait it out.
            publication = self._wait_for_lease_end(batch, publication, invocation)
            if publication is None:
                return None
        return self._claims.take_over(batch.key, publication, invocation.request_id)

    def _wait_for_lease_end(self, batch: BatchRef, publication: Publication,
                            invocation: Invocation) -> Publication | None:
        """The claim once its lease has ended; None if it was published or replaced meanwhile."""
        while True:
            now = self._claims.clock()
            if not publication.lease_live(now):
                return publication
            wait = publication.lease_expires_at - now
            if invocation.remaining_ms() - wait * 1000 < _TIME_KEPT_FOR_PUBLISHING_MS:
                raise PublicationBusyError(
                    f"revision {publication.revision} of {batch.describe()} is still claimed by "
                    f"an earlier attempt of this event until its lease ends "
                    f"({wait:.0f} s from now), longer than this invocation can wait; "
                    f"the next retry publishes it")
            self._telemetry.logger.info(
                "waiting %.1f s for the lease of an earlier attempt of this event to end",
                wait, extra={"revision": publication.revision})
            self._sleep(min(wait, 5.0) + 0.05)
            latest = self._claims.read(batch.key)
            if (latest is None or latest.published or latest.revision != publication.revision
                    or latest.version_key != publication.version_key):
                return None
            publication = latest

    def _messages(self, batch: BatchRef, state: BatchState, revision: int,
                  summary: BatchSummary) -> Generator[CustomerMessage]:
        """The batch's messages, made as they are sent: a large batch a partition at a time."""
        files = state.files
        return batch_messages(
            batch.batch_id, revision,
            self._store.read_rows(batch.key, "customers", files["customers"]),
            self._store.read_rows(batch.key, "orders", files["orders"]),
            self._store.read_rows(batch.key, "items", files["items"]),
            partitions=partition_count(sum(files[kind].rows for kind in KINDS)),
            summary=summary, folder=batch.folder)

    def _publish(self, batch: BatchRef, state: BatchState, claim: Claim, outcome: Outcome) -> None:
        try:
            self._send_and_mark(batch, state, claim, outcome)
        except BaseException:
            self._claims.release(claim)  # the retry takes over without waiting for the lease
            raise

    def _send_and_mark(self, batch: BatchRef, state: BatchState, claim: Claim,
                       outcome: Outcome) -> None:
        started = time.monotonic()
        summary = BatchSummary()
        revision = claim.revision
        try:
            with self._claims.hold(claim) as lease:
                outcome.messages = self._publisher.publish(
                    self._messages(batch, state, revision, summary), before_send=lease.check)
                lease.check()
        except ClaimLostError as exc:
            if not exc.taken:
                raise
            outcome.error = f"stopped sending revision {revision}: {exc}"
            return
        except RowsMissingError as exc:
            latest = self._claims.read(batch.key)
            if latest is None or latest.revision == revision:
                raise  # lost, not replaced: retried, then dead-lettered with this error
            # A newer revision was claimed, and its publisher deleted the versions
            # this one read: the newer revision is the batch now.
            outcome.error = (f"revision {revision} stopped part-way: revision {latest.revision} "
                             f"replaced it ({exc})")
            return
        now = self._now()
        self._reports.write_batch_report(batch, revision, summary, now, _warnings(state))
        if not self._claims.mark_published(claim, outcome.messages):
            # Taken over after this invocation's lease ended, or a newer revision
            # was claimed: whoever holds it now finishes and records it.
            outcome.error = (f"revision {revision} was sent, then taken over by another "
                             f"invocation before it could be marked published")
            return
        outcome.published_revision = revision
        # A published batch is what every misnamed upload of it, or of its folder
        # with no batch id, was meant to become: their reports are history.
        self._forget_misnamed(batch_scope(batch.key), state.misnamed)
        self._forget_misnamed(folder_scope(batch.folder), self._store.misnamed_in_folder(batch.folder))
        self._delete_replaced_rows(batch, state)
        self._telemetry.batch_published(batch.batch_id, revision, outcome.messages,
                                        summary.orphan_order_count, summary.orphan_item_count,
                                        (time.monotonic() - started) * 1000)

    def _delete_replaced_rows(self, batch: BatchRef, state: BatchState) -> None:
        """Delete the chunks of every version of the batch's files but the ones published.

        Only sets the file records have moved off: those can never be recorded
        again, so no current or concurrent ingest needs them (see ``store``).
        """
        for kind, record in state.files.items():
            for write_set in record.replaced_sets():
                self._retire(batch.key, kind, write_set)

    # --- for a person debugging the pipeline (the HTTP routes) --------------------
    def _complete_state(self, batch: BatchRef) -> BatchState:
        state = self._store.read_batch(batch.key)
        if not state.files:
            raise BatchNotFoundError(f"no file of {batch.describe()} has been processed; "
                                     f"check the batch id and the folder")
        if state.expiry_problem():
            raise BatchNotReadyError(f"{batch.describe()} cannot be published from its stored "
                                     f"rows: {state.expiry_problem()}")
        missing = state.missing_kinds()
        if missing:
            raise BatchNotReadyError(f"{batch.describe()} is waiting for {', '.join(missing)}: "
                                     f"upload an accepted file of each kind first")
        return state

    def preview_customer(self, batch: BatchRef, customer_id: str) -> CustomerMessage:
        """The customer's message as the current files make it (revision as last claimed)."""
        state = self._complete_state(batch)
        revision = state.publication.revision if state.publication else 0
        messages = self._messages(batch, state, revision, BatchSummary())
        try:
            for message in messages:
                if message.customer_id == customer_id:
                    return message
        finally:
            messages.close()  # removes a partitioned join's files at once
        raise BatchNotFoundError(f"customer {customer_id!r} is not in the customers file of "
                                 f"{batch.describe()}")

    def republish(self, batch: BatchRef, request_id: str = "") -> Outcome:
        """Publish the batch again as a new revision, e.g. after a consumer lost messages.

        The new revision keeps consumers that drop repeats by idempotency key
        from dropping these. Only a published batch can be published again.
        """
        state = self._complete_state(batch)
        publication = state.publication
        if publication is None or not publication.published:
            raise BatchNotReadyError(
                f"{batch.describe()} is {publication.state if publication else 'not published'}: "
                f"only a published batch can be published again")
        claim = self._claims.claim(batch.key, state.versions(),
                                   Invocation.named(request_id).request_id,
                                   latest=publication, republish=True)
        if claim is None:
            raise BatchNotReadyError(f"{batch.describe()} was claimed by another publication "
                                     f"meanwhile; look at its status and try again")
        outcome = Outcome(key="", status="republished", batch_id=batch.batch_id,
                          folder=batch.folder)
        self._publish(batch, state, claim, outcome)
        return outcome


def split_hint(name: ObjectName, size: int, limit: int) -> str:
    """What to do with a file too large for one invocation."""
    parts = -(-size // limit)
    return (f"Split the batch into {parts} or more batches whose files are each at most "
            f"{limit:,} bytes: keep each customer's orders, and each order's items, in the "
            f"same batch as the customer, and give each its own batch id "
            f"(e.g. {name.kind}_{name.batch_id}-1.csv ... {name.kind}_{name.batch_id}-{parts}.csv, "
            f"each with the {' and '.join(k for k in KINDS if k != name.kind)} files of its batch).")


def _warnings(state: BatchState) -> list[str]:
    """What a published batch may not be meant to be: a file with no rows."""
    effect = {"customers": "the batch was published with no messages",
              "orders": "every customer was published with no orders and a total of 0.00",
              "items": "every order was published with no item ids"}
    return [f"the {kind} file {state.files[kind].key} has a header and no rows: {effect[kind]}; "
            f"if that is not meant, upload the file with its rows under the same key"
            for kind in KINDS if state.files[kind].rows == 0]
