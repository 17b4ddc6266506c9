"""What happens when an object lands in the ingest bucket, top to bottom.

1. The key names the file's folder, kind and batch (a batch is its folder's).
   A key that is not ``<kind>_<batch id>.csv`` gets a report that says what is
   wrong with it, filed with the batch it names where one can be read from it
   (``misnamed``).
2. The file version goes into the store: read with ``IfMatch`` on its event's
   ETag, parsed and validated as it streams, written as chunks, recorded as the
   batch's file of its kind; or rejected as a whole, with a report (``ingest``).
3. If the batch now has an accepted file of every kind, one invocation claims
   its next revision and publishes one message per customer (``completion``).

Steps 2 and 3 are idempotent and step 3 is claimed once per set of file
versions, so a re-delivered or retried event converges to the same result.
Step 3 runs for a duplicate too: the invocation that recorded the file may
have crashed before it published.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from urllib.parse import unquote_plus

from chalicelib.completion import Completion
from chalicelib.errors import missing_resource
from chalicelib.ingest import Ingest, Ingested
from chalicelib.keys import BatchRef, MisnamedObjectError, ObjectName, parse_object_key
from chalicelib.misnamed import MisnamedUploads
from chalicelib.model import CustomerMessage
from chalicelib.outcome import Invocation, Outcome, OutcomeStatus
from chalicelib.row_store import RowStore
from chalicelib.telemetry import Telemetry, tracer


class Pipeline:
    def __init__(self, ingest: Ingest, completion: Completion, misnamed: MisnamedUploads,
                 rows: RowStore, telemetry: Telemetry) -> None:
        self._ingest = ingest
        self._completion = completion
        self._misnamed = misnamed
        self._rows = rows  # its counters go into the summary line
        self._telemetry = telemetry

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
        written_before, units_before = self._rows.items_written, self._rows.write_units
        self._telemetry.start(key, invocation.request_id)
        try:
            outcome = self._process(bucket, key, etag.strip('"'), sequencer, event_time, size,
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
            writes=self._rows.items_written - written_before,
            write_units=self._rows.write_units - units_before,
            duration_ms=(time.monotonic() - started) * 1000, problem_count=outcome.problem_count,
            report_key=outcome.report_key, detail=outcome.error)
        return outcome

    def _process(self, bucket: str, key: str, etag: str, sequencer: str, event_time: str,
                 size: int | None, invocation: Invocation) -> Outcome:
        try:
            name = parse_object_key(key)
        except MisnamedObjectError as exc:
            if key.endswith("/") and size == 0:
                # What the S3 console's "Create folder" makes: no file, nothing to say.
                return Outcome(key=key, status=OutcomeStatus.IGNORED, error="a folder, not a file")
            return self._misnamed.report(key, etag, exc)
        self._telemetry.file_identified(name.batch_id, name.kind, etag, name.folder)
        ingested = self._ingest.ingest(bucket, name, etag, sequencer, event_time)
        outcome = _outcome_of(name, ingested)
        if ingested.batch is None:
            return outcome
        published = self._completion.publish_if_complete(name.batch, ingested.batch, invocation)
        return dataclasses.replace(outcome, waiting_for=published.waiting_for,
                                   published_revision=published.revision,
                                   messages=published.messages,
                                   error=outcome.error or published.error)

    # --- for a person debugging the pipeline (the HTTP routes) --------------------
    def preview_customer(self, batch: BatchRef, customer_id: str) -> CustomerMessage:
        """The customer's message as the current files make it (revision as last claimed)."""
        return self._completion.preview_customer(batch, customer_id)

    def republish(self, batch: BatchRef, request_id: str = "") -> Outcome:
        """Publish a published batch again as a new revision (see ``Completion.republish``)."""
        published = self._completion.republish(batch, request_id)
        return Outcome(key="", status=OutcomeStatus.REPUBLISHED, batch_id=batch.batch_id,
                       folder=batch.folder, published_revision=published.revision,
                       messages=published.messages, error=published.error)


def _outcome_of(name: ObjectName, ingested: Ingested) -> Outcome:
    return Outcome(key=name.key, status=ingested.status, batch_id=name.batch_id,
                   folder=name.folder, kind=name.kind, rows=ingested.rows,
                   rows_read=ingested.rows_read, rows_rejected=ingested.rows_rejected,
                   problem_count=ingested.problem_count, report_key=ingested.report_key,
                   error=ingested.error)
