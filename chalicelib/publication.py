"""The publication claim: which invocation sends a batch's revision, and while it lives only.

A batch is published once per set of file versions (its *version key*). The
item ``batch#<key>`` / ``publication`` holds the latest revision: the versions
it was built from, whether it is being published or published, and, while it
is being published, its claim:

- ``claimed_by``: the Lambda request id of the claiming invocation. Lambda
  keeps the request id when it retries an event, so a retry knows its own claim;
  an S3 duplicate of the event, or an identical re-upload, has another one.
- ``claim_token``: new for every claim and take-over: which *attempt* holds it.
- ``lease_expires_at``: when the claim ends unless its holder renews it. The
  holder renews it every quarter of the lease while it sends (``Lease``).

Every step is one conditional write that DynamoDB evaluates, built from the
named conditions below:

- **claim** a new revision: only from the revision read and for versions not
  claimed yet, so of two invocations completing a batch at once exactly one
  gets it; and, in the same transaction, only while every file record still
  holds the version the claim was built from, so that an invocation that read
  the files before a newer upload was recorded never claims the newer revision
  with the older files;
- **renew**: only the holder (its token, still publishing);
- **take over**: only a claim whose lease has ended, exactly as it was read;
- **mark published**: only the holder;
- **release**: only the holder, when it fails: its lease ends at once, so
  Lambda's retry of the event (or any other invocation) takes it over
  without waiting.

A live claim is never taken over, whoever asks: an invocation that finds one
leaves the revision to its holder, unless it is the holder's own retry (same
request id: its attempt was stopped without a word, by a time-out or a crash),
which waits for the lease to end. A holder that cannot renew stops sending
a quarter of a lease before its lease could end (it fences itself), so a
taker never sends beside it.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from chalicelib.errors import PipelineError

logger = logging.getLogger(__name__)

PUBLICATION_SORT_KEY = "publication"
DEFAULT_LEASE_SECONDS = 30
# Claims written before leases existed carry only their claim time; they were
# held for Lambda's longest run, 15 minutes.
_LEGACY_LEASE_SECONDS = 15 * 60

# The conditions, by name: each write below is a conjunction of some of them.
_VERSIONS_NOT_CLAIMED = "(attribute_not_exists(version_key) OR version_key <> :versions)"
_LATEST_AND_PUBLISHED = "(revision = :after AND #state = :published)"
_PUBLISHING = "#state = :publishing"
_HELD_WITH = "claim_token = :token"          # the holder's own token
_AS_READ = "claim_token = :read_token"       # the claim exactly as the taker read it
_LEASE_ENDED = "(attribute_not_exists(lease_expires_at) OR lease_expires_at < :now)"
_OF_REVISION = "revision = :revision"
_OF_READ_REVISION = "(attribute_not_exists(revision) OR revision = :read_revision)"
_FILE_AS_READ = "write_id = :write_id"  # on a file record: the version the claim was built from


def _all(*conditions: str) -> str:
    return " AND ".join(conditions)


class PublicationState(StrEnum):
    PUBLISHING = "publishing"
    PUBLISHED = "published"


PUBLISHING, PUBLISHED = PublicationState.PUBLISHING.value, PublicationState.PUBLISHED.value


class ClaimLostError(PipelineError):
    """This invocation may no longer send under its claim: it stops sending.

    ``taken``: another invocation holds the claim now (a take-over, or a newer
    revision), and finishes the work. Otherwise the claim could not be renewed
    and may soon be taken: the invocation fails, so that its retry makes sure.
    """

    def __init__(self, message: str, taken: bool) -> None:
        super().__init__(message)
        self.taken = taken


class PublicationBusyError(PipelineError):
    """An earlier attempt's claim still runs longer than this invocation can wait: retry later."""


@dataclass(frozen=True)
class Publication:
    """The latest revision of a batch, as read."""

    revision: int
    version_key: str
    state: str  # PUBLISHING or PUBLISHED
    claimed_at: str
    published_at: str = ""
    messages: int = 0
    claim_token: str = ""
    claimed_by: str = ""          # the claiming invocation's request id
    lease_expires_at: float = 0.0  # epoch seconds

    @property
    def published(self) -> bool:
        return self.state == PUBLISHED

    def lease_live(self, now: float) -> bool:
        return self.state == PUBLISHING and now < self.lease_expires_at


@dataclass(frozen=True)
class Claim:
    """What the holder of a claim keeps: enough to renew it, mark it, and know when to stop."""

    batch_key: str
    revision: int
    token: str
    claimed_by: str
    granted_at: float  # by the holder's clock, taken before the write: when its lease began


@dataclass(frozen=True)
class FileVersions:
    """The file versions a revision is built from: what names them (``key``), and the write id
    each kind's file record held when they were read (what the claim checks is still so)."""

    key: str
    write_ids: tuple[tuple[str, str], ...]  # (kind, write id)


def publication_from_item(item: dict) -> Publication:
    claimed_at = item["claimed_at"]["S"]
    lease = item.get("lease_expires_at", {}).get("N")
    return Publication(
        revision=int(item["revision"]["N"]), version_key=item["version_key"]["S"],
        state=item["state"]["S"], claimed_at=claimed_at,
        published_at=item.get("published_at", {}).get("S", ""),
        messages=int(item.get("messages", {}).get("N", "0")),
        claim_token=item.get("claim_token", {}).get("S", ""),
        claimed_by=item.get("claimed_by", {}).get("S", ""),
        lease_expires_at=float(lease) if lease else _legacy_lease_end(claimed_at))


def _legacy_lease_end(claimed_at: str) -> float:
    try:
        return datetime.fromisoformat(claimed_at.replace("Z", "+00:00")).timestamp() + _LEGACY_LEASE_SECONDS
    except ValueError:
        return 0.0  # a claim whose time cannot be read cannot be waited for


def iso_time(epoch: float) -> str:
    return (datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"))


class PublicationClaims:
    """Claims, renews, takes over and marks a batch's publication (see the module doc)."""

    def __init__(self, client, table_name: str, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self.lease_seconds = lease_seconds
        self.clock = clock

    def read(self, batch_key: str) -> Publication | None:
        # A Query of the one item: the function's role reads the table by Query only.
        key = self._key(batch_key)
        items = self._client.query(
            TableName=self._table, ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND sk = :sk",
            ExpressionAttributeValues={":pk": key["pk"], ":sk": key["sk"]})["Items"]
        return publication_from_item(items[0]) if items else None

    def claim(self, batch_key: str, versions: FileVersions, claimed_by: str,
              latest: Publication | None, republish: bool = False) -> Claim | None:
        """The revision after ``latest`` for ``versions``; None if it is not this invocation's.

        One transaction: the publication takes the next revision only if it is
        still at ``latest`` (of two invocations completing a batch at once,
        exactly one gets it), and only if every file record still holds the
        version it was read with, so that a claim built from an older view of
        the files never wins the newer revision. Otherwise the invocation that
        recorded the newer file claims it. With ``republish`` (the same
        versions again, on request) ``latest`` must be published.
        """
        read_revision = latest.revision if latest else 0
        if republish:
            condition = _all(_OF_READ_REVISION, _LATEST_AND_PUBLISHED)
            values = {":published": {"S": PUBLISHED}, ":after": {"N": str(read_revision)}}
        else:
            condition = _all(_OF_READ_REVISION, _VERSIONS_NOT_CLAIMED)
            values = {}
        token = uuid.uuid4().hex
        granted_at = self.clock()
        update = {
            "TableName": self._table, "Key": self._key(batch_key),
            "UpdateExpression": (
                "SET revision = :revision, version_key = :versions, #state = :publishing, "
                "claimed_at = :claimed_at, claim_token = :token, claimed_by = :by, "
                "lease_expires_at = :lease_end REMOVE published_at, messages"),
            "ConditionExpression": condition, "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {
                **values, ":read_revision": {"N": str(read_revision)},
                ":revision": {"N": str(read_revision + 1)}, ":versions": {"S": versions.key},
                **self._claim_values(token, claimed_by, granted_at)},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        checks = [{"ConditionCheck": {
            "TableName": self._table,
            "Key": {"pk": {"S": f"batch#{batch_key}"}, "sk": {"S": f"file#{kind}"}},
            "ConditionExpression": _FILE_AS_READ,
            "ExpressionAttributeValues": {":write_id": {"S": write_id}}}}
            for kind, write_id in versions.write_ids]
        try:
            self._client.transact_write_items(TransactItems=[{"Update": update}, *checks])
        except self._client.exceptions.TransactionCanceledException as exc:
            # A lost answer retried by botocore fails on our own claim: the token says so.
            reasons = exc.response.get("CancellationReasons") or [{}]
            if reasons[0].get("Item", {}).get("claim_token", {}).get("S") != token:
                return None
        return Claim(batch_key, read_revision + 1, token, claimed_by, granted_at)

    def _claim_values(self, token: str, claimed_by: str, granted_at: float) -> dict:
        return {":publishing": {"S": PUBLISHING}, ":token": {"S": token}, ":by": {"S": claimed_by},
                ":claimed_at": {"S": iso_time(granted_at)},
                ":lease_end": {"N": _seconds(granted_at + self.lease_seconds)}}

    def take_over(self, batch_key: str, publication: Publication, claimed_by: str) -> Claim | None:
        """Take over ``publication``'s claim, whose lease has ended; None if it changed meanwhile."""
        return self._write_claim(
            batch_key, claimed_by, _all(_OF_REVISION, _PUBLISHING, _AS_READ, _LEASE_ENDED),
            update=("SET claimed_at = :claimed_at, claim_token = :token, claimed_by = :by, "
                    "lease_expires_at = :lease_end"),
            values={":revision": {"N": str(publication.revision)},
                    ":read_token": {"S": publication.claim_token}})

    def _write_claim(self, batch_key: str, claimed_by: str, condition: str, update: str,
                     values: dict) -> Claim | None:
        token = uuid.uuid4().hex
        granted_at = self.clock()
        values = {**values, **self._claim_values(token, claimed_by, granted_at)}
        if _LEASE_ENDED in condition:
            values[":now"] = {"N": _seconds(granted_at)}
        try:
            response = self._client.update_item(
                TableName=self._table, Key=self._key(batch_key), UpdateExpression=update,
                ConditionExpression=condition, ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values, ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
            item = response["Attributes"]
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            # botocore retries a call whose answer was lost (a time-out): if the
            # first attempt landed, the retry fails on our own claim. The token
            # tells that apart from another invocation's.
            item = exc.response.get("Item")
            if not item or item.get("claim_token", {}).get("S") != token:
                return None
        return Claim(batch_key, int(item["revision"]["N"]), token, claimed_by, granted_at)

    def renew(self, claim: Claim) -> float | None:
        """Push the claim's lease on; the time it was renewed from, or None if it is no longer held."""
        renewed_at = self.clock()
        try:
            self._client.update_item(
                TableName=self._table, Key=self._key(claim.batch_key),
                UpdateExpression="SET lease_expires_at = :lease_end",
                ConditionExpression=_all(_OF_REVISION, _PUBLISHING, _HELD_WITH),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":lease_end": {"N": _seconds(renewed_at + self.lease_seconds)},
                    ":revision": {"N": str(claim.revision)}, ":publishing": {"S": PUBLISHING},
                    ":token": {"S": claim.token}})
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return renewed_at

    def release(self, claim: Claim) -> None:
        """End the claim's lease now: its holder failed and stops, so its retry need not wait.

        Best effort: if this cannot be written, the lease ends by itself.
        """
        try:
            self._client.update_item(
                TableName=self._table, Key=self._key(claim.batch_key),
                UpdateExpression="SET lease_expires_at = :now",
                ConditionExpression=_all(_OF_REVISION, _PUBLISHING, _HELD_WITH),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":now": {"N": _seconds(self.clock())}, ":revision": {"N": str(claim.revision)},
                    ":publishing": {"S": PUBLISHING}, ":token": {"S": claim.token}})
        except self._client.exceptions.ConditionalCheckFailedException:
            pass  # no longer ours
        except Exception:  # noqa: BLE001 - the failure being raised matters more than this one
            logger.warning("could not release the claim on revision %d of batch %s; it ends "
                           "with its lease", claim.revision, claim.batch_key, exc_info=True)

    def mark_published(self, claim: Claim, messages: int) -> bool:
        """Record the revision as published; False if the claim was taken over or replaced."""
        try:
            self._client.update_item(
                TableName=self._table, Key=self._key(claim.batch_key),
                UpdateExpression=("SET #state = :published, published_at = :now, messages = :n "
                                  "REMOVE lease_expires_at"),
                ConditionExpression=_all(_OF_REVISION, _HELD_WITH),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":published": {"S": PUBLISHED}, ":now": {"S": iso_time(self.clock())},
                    ":n": {"N": str(messages)}, ":revision": {"N": str(claim.revision)},
                    ":token": {"S": claim.token}})
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def hold(self, claim: Claim) -> Lease:
        """A lease keeper for ``claim``: ``with claims.hold(claim) as lease: ... lease.check()``."""
        return Lease(self, claim)

    @staticmethod
    def _key(batch_key: str) -> dict:
        return {"pk": {"S": f"batch#{batch_key}"}, "sk": {"S": PUBLICATION_SORT_KEY}}


def _seconds(epoch: float) -> str:
    return f"{epoch:.3f}"


class Lease:
    """Keeps a claim alive on a thread while its holder sends, and tells the holder when to stop.

    Renewed every quarter of the lease (at once again after a failed renewal,
    a second later). The holder calls ``check()`` before each send: it raises
    ``ClaimLostError`` once the claim was taken from it, or once three
    quarters of a lease have passed since the last renewal that landed: the
    remaining quarter is the margin for the holder's and a taker's clocks.
    """

    def __init__(self, claims: PublicationClaims, claim: Claim,
                 wait: Callable[[threading.Event, float], bool] | None = None) -> None:
        self._claims = claims
        self.claim = claim
        self._every = claims.lease_seconds / 4
        self._valid_until = claim.granted_at + 3 * self._every
        self._lost = ""
        self._stop = threading.Event()
        self._wait = wait or (lambda event, seconds: event.wait(seconds))
        self._thread = threading.Thread(target=self._keep_renewing, daemon=True,
                                        name="publication-lease")

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        """Raise ``ClaimLostError`` if the holder may no longer send."""
        if self._lost:
            raise ClaimLostError(self._lost, taken=True)
        if self._claims.clock() >= self._valid_until:
            raise ClaimLostError(
                f"the claim on revision {self.claim.revision} of batch {self.claim.batch_key} "
                f"could not be renewed for {3 * self._every:.0f} s; another invocation may "
                f"take it over, so this one stops sending", taken=False)

    def _keep_renewing(self) -> None:
        delay = self._every
        while not self._wait(self._stop, delay):
            try:
                renewed_at = self._claims.renew(self.claim)
            except Exception:  # noqa: BLE001 - tried again a second later; check() fences
                logger.warning("could not renew the claim on revision %d of batch %s; trying "
                               "again", self.claim.revision, self.claim.batch_key, exc_info=True)
                delay = 1.0
                continue
            if renewed_at is None:
                self._lost = (f"revision {self.claim.revision} of batch {self.claim.batch_key} "
                              f"was taken over or replaced by another invocation")
                return
            self._valid_until = renewed_at + 3 * self._every
            delay = self._every
