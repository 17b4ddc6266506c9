"""The lease keeper: renews its claim while the holder sends, and stops the holder in time."""
from __future__ import annotations

import threading

import pytest

from chalicelib.publication import Claim, ClaimLostError, Lease, Publication


class Claims:
    """Claims whose renewals answer as each test says, on a clock the test moves."""

    lease_seconds = 40.0

    def __init__(self, answers: list) -> None:
        self.now = 1000.0
        self._answers = answers
        self.renewals = 0
        self.done = threading.Event()

    def clock(self) -> float:
        return self.now

    def renew(self, claim):
        self.renewals += 1
        answer = self._answers.pop(0) if self._answers else None
        if not self._answers:
            self.done.set()
        if isinstance(answer, Exception):
            raise answer
        return self.now if answer == "renewed" else None


def lease_for(claims: Claims) -> Lease:
    """A lease whose waits between renewals move the clock instead of sleeping."""
    def wait(stop: threading.Event, seconds: float) -> bool:
        if claims.done.is_set():
            return stop.wait()  # nothing left to answer: wait for the holder to finish
        claims.now += seconds
        return stop.is_set()
    return Lease(claims, Claim("f/b", 1, "token", "request-1", granted_at=1000.0), wait=wait)


def test_a_holder_whose_renewals_land_may_go_on_sending():
    claims = Claims(["renewed", "renewed", "renewed"])
    with lease_for(claims) as lease:
        claims.done.wait(5)
        lease.check()  # three renewals, 30 s after the claim: well inside the lease
    assert claims.renewals == 3


def test_a_holder_whose_claim_was_taken_is_told_so():
    claims = Claims(["renewed", "taken"])
    with lease_for(claims) as lease:
        claims.done.wait(5)
        with pytest.raises(ClaimLostError) as lost:
            lease.check()
    assert lost.value.taken and "taken over or replaced" in str(lost.value)


def test_a_holder_that_cannot_renew_stops_before_its_lease_could_end():
    # Renewals fail with errors: the holder may send until three quarters of
    # the lease after the last one that landed, and not after.
    claims = Claims(["renewed", RuntimeError("throttled"), RuntimeError("throttled")])
    with lease_for(claims) as lease:
        claims.done.wait(5)
        last_renewal = 1000.0 + 10  # the first renewal, a quarter of a lease in
        claims.now = last_renewal + 29.9
        lease.check()
        claims.now = last_renewal + 30
        with pytest.raises(ClaimLostError) as fenced:
            lease.check()
    assert not fenced.value.taken and "could not be renewed" in str(fenced.value)


def test_a_claim_is_live_only_while_publishing_and_before_its_lease_ends():
    claim = Publication(revision=1, version_key="v", state="publishing", claimed_at="",
                        lease_expires_at=100.0)
    assert claim.lease_live(99.9) and not claim.lease_live(100.0)
    published = Publication(revision=1, version_key="v", state="published", claimed_at="",
                            lease_expires_at=100.0)
    assert not published.lease_live(50.0)
