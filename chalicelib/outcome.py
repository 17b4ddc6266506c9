"""One invocation: who it is, and what it did with its object (what the handler returns and logs)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class OutcomeStatus(StrEnum):
    """What became of the object an invocation was about."""

    ACCEPTED = "accepted"        # its rows are the batch's version of its kind now
    DUPLICATE = "duplicate"      # that version was in already (a re-delivery, an identical re-upload)
    REJECTED = "rejected"        # invalid, or misnamed: a report says why
    SUPERSEDED = "superseded"    # a newer upload of the key was processed, or the object is gone
    IGNORED = "ignored"          # no file (a folder marker)
    REPUBLISHED = "republished"  # published again on request (no object)


@dataclass(frozen=True)
class Outcome:
    """What one invocation did; returned by the handler and logged."""

    key: str
    status: OutcomeStatus
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


def _fifteen_minutes() -> float:
    return 15 * 60 * 1000.0


@dataclass(frozen=True)
class Invocation:
    """The Lambda invocation at work: its request id (which Lambda's retries of an
    event keep) and the time it has left (``context.get_remaining_time_in_millis``)."""

    request_id: str
    remaining_ms: Callable[[], float] = _fifteen_minutes

    @classmethod
    def named(cls, request_id: str = "",
              remaining_ms: Callable[[], float] | None = None) -> Invocation:
        """An invocation; without a request id (a direct call) a new one of its own."""
        return cls(request_id or f"direct-{uuid.uuid4()}", remaining_ms or _fifteen_minutes)
