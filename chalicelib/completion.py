"""A complete batch's next revision: claimed once, sent once, marked published, its old rows deleted.

When a batch has an accepted file of every kind, the invocation that sees it
claims the revision of those file versions (``publication``: a transaction
with a lease), builds one message per customer from the stored rows (joined
a partition at a time for a large batch) and sends them, renewing its lease;
then it writes the batch report, marks the revision published, forgets the
misnamed uploads the batch answers, and deletes the chunks of the versions
its files replaced. A revision claimed by a live holder is left to it; the
holder's own retry waits for its lease to end, then takes it over.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from chalicelib.aggregation import BatchSummary
from chalicelib.errors import BatchNotFoundError, BatchNotReadyError
from chalicelib.ingest import retire
from chalicelib.keys import KINDS, BatchRef
from chalicelib.misnamed import MisnamedUploads
from chalicelib.model import CustomerMessage
from chalicelib.outcome import Invocation
from chalicelib.partitioning import ROWS_PER_PARTITION, batch_messages, partition_count
from chalicelib.publication import Claim, ClaimLostError, Publication, PublicationBusyError, PublicationClaims
from chalicelib.publisher import SqsPublisher
from chalicelib.records import BatchRecords, BatchState, batch_scope
from chalicelib.reports import ReportWriter
from chalicelib.row_store import RowsMissingError, RowStore
from chalicelib.telemetry import Telemetry, tracer

# What an invocation keeps for itself after waiting out an earlier attempt's
# lease: if less would be left, it leaves the revision to a later retry.
_TIME_KEPT_FOR_PUBLISHING_MS = 60_000


@dataclass
class Publishing:
    """What an invocation did about its batch's publication."""

    waiting_for: list[str] = field(default_factory=list)  # kinds with no accepted file yet
    revision: int = 0   # the revision it published, if it did
    messages: int = 0
    error: str = ""     # why it stopped, or why the batch cannot be published


class Completion:
    def __init__(self, records: BatchRecords, rows: RowStore, claims: PublicationClaims,
                 publisher: SqsPublisher, reports: ReportWriter, misnamed: MisnamedUploads,
                 telemetry: Telemetry, now: Callable[[], str],
                 sleep: Callable[[float], None] = time.sleep,
                 rows_per_partition: int = ROWS_PER_PARTITION) -> None:
        self._records = records
        self._rows = rows
        self._claims = claims
        self._publisher = publisher
        self._reports = reports
        self._misnamed = misnamed
        self._telemetry = telemetry
        self._now = now
        self._sleep = sleep
        self._rows_per_partition = rows_per_partition

    @tracer.capture_method
    def publish_if_complete(self, batch: BatchRef, state: BatchState,
                            invocation: Invocation) -> Publishing:
        waiting_for = state.missing_kinds()
        if waiting_for:
            return Publishing(waiting_for, error=state.expiry_problem())
        claim = self._claim(batch, state, invocation)
        if claim is None:
            return Publishing()
        return self._publish(batch, state, claim)

    def _claim(self, batch: BatchRef, state: BatchState, invocation: Invocation) -> Claim | None:
        """This invocation's claim on the revision of the batch's current files; None: not its to send.

        A new set of file versions gets a new revision. A revision claimed but
        not published is left to its holder while the holder's lease lives
        (an S3 duplicate of the event, or an identical re-upload, runs beside
        it); once the lease has ended, its holder was stopped, and the claim
        is taken over.
        """
        publication = state.publication
        if publication is None or publication.version_key != state.version_key():
            return self._claims.claim(batch.key, state.versions(), invocation.request_id,
                                      latest=publication)
        if publication.published:
            return None
        if publication.lease_live(self._claims.clock()):
            if publication.claimed_by != invocation.request_id:
                return None  # its holder is sending it
            # Lambda retries an event only once its attempt has ended, so this
            # claim's holder is gone, but its lease still runs: wait it out.
            ended = self._wait_for_lease_end(batch, publication, invocation)
            if ended is None:
                return None
            publication = ended
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

    def _publish(self, batch: BatchRef, state: BatchState, claim: Claim) -> Publishing:
        try:
            return self._send_and_mark(batch, state, claim)
        except BaseException:
            self._claims.release(claim)  # the retry takes over without waiting for the lease
            raise

    def _send_and_mark(self, batch: BatchRef, state: BatchState, claim: Claim) -> Publishing:
        started = time.monotonic()
        summary = BatchSummary()
        revision = claim.revision
        try:
            with self._claims.hold(claim) as lease:
                sent = self._publisher.publish(self._messages(batch, state, revision, summary),
                                               before_send=lease.check)
                lease.check()
        except ClaimLostError as exc:
            if not exc.taken:
                raise
            return Publishing(error=f"stopped sending revision {revision}: {exc}")
        except RowsMissingError as exc:
            latest = self._claims.read(batch.key)
            if latest is None or latest.revision == revision:
                raise  # lost, not replaced: retried, then dead-lettered with this error
            # A newer revision was claimed, and its publisher deleted the versions
            # this one read: the newer revision is the batch now.
            return Publishing(error=f"revision {revision} stopped part-way: revision "
                                    f"{latest.revision} replaced it ({exc})")
        self._reports.write_batch_report(batch, revision, summary, self._now(), _warnings(state))
        if not self._claims.mark_published(claim, sent):
            # Taken over after this invocation's lease ended, or a newer revision
            # was claimed: whoever holds it now finishes and records it.
            return Publishing(messages=sent, error=f"revision {revision} was sent, then taken "
                                                   f"over by another invocation before it could "
                                                   f"be marked published")
        # A published batch is what every misnamed upload of it, or of its folder
        # with no batch id, was meant to become: their reports are history.
        self._misnamed.forget(batch_scope(batch.key), state.misnamed)
        self._misnamed.forget_in_folder(batch.folder)
        self._delete_replaced_rows(batch, state)
        self._telemetry.batch_published(batch.batch_id, revision, sent,
                                        summary.orphan_order_count, summary.orphan_item_count,
                                        (time.monotonic() - started) * 1000)
        return Publishing(revision=revision, messages=sent)

    def _messages(self, batch: BatchRef, state: BatchState, revision: int,
                  summary: BatchSummary) -> Generator[CustomerMessage]:
        """The batch's messages, made as they are sent: a large batch a partition at a time."""
        files = state.files
        rows = {kind: self._rows.read_rows(batch.key, kind, files[kind]) for kind in KINDS}
        return batch_messages(
            batch.batch_id, revision, rows["customers"], rows["orders"], rows["items"],
            partitions=partition_count(sum(files[kind].rows for kind in KINDS),
                                       self._rows_per_partition),
            summary=summary, folder=batch.folder)

    def _delete_replaced_rows(self, batch: BatchRef, state: BatchState) -> None:
        """Delete the chunks of every version of the batch's files but the ones published.

        Only sets the file records have moved off: those can never be recorded
        again, so no current or concurrent ingest needs them (see ``records``).
        """
        for kind, record in state.files.items():
            for write_set in record.replaced_sets():
                retire(self._records, self._rows, batch.key, kind, write_set)

    # --- for a person debugging the pipeline (the HTTP routes) --------------------
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

    def republish(self, batch: BatchRef, request_id: str = "") -> Publishing:
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
        return self._publish(batch, state, claim)

    def _complete_state(self, batch: BatchRef) -> BatchState:
        state = self._records.read_batch(batch.key)
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


def _warnings(state: BatchState) -> list[str]:
    """What a published batch may not be meant to be: a file with no rows."""
    effect = {"customers": "the batch was published with no messages",
              "orders": "every customer was published with no orders and a total of 0.00",
              "items": "every order was published with no item ids"}
    return [f"the {kind} file {state.files[kind].key} has a header and no rows: {effect[kind]}; "
            f"if that is not meant, upload the file with its rows under the same key"
            for kind in KINDS if state.files[kind].rows == 0]
