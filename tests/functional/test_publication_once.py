"""One publication per revision: a revision is sent by one invocation at a time, and finished.

S3 delivers an event at least once, partners upload the same bytes twice, the
emulator used to notify twice per multipart upload, and Lambda retries an
invocation that failed or was stopped. Whatever of that happens while a
revision is being sent, no (folder, batch, customer, revision) is sent twice
unless the sender was stopped part-way; and a stopped sender's revision is
always finished (README Guarantee 3). Faults are injected on the wire between
the app's clients and moto (``wire.py``).
"""
from __future__ import annotations

import threading

import boto3
import pytest

from chalicelib import aws, wiring
from chalicelib.keys import BatchRef
from chalicelib.pipeline import Pipeline
from chalicelib.publication import PublicationBusyError, PublicationClaims
from chalicelib.records import BatchRecords
from chalicelib.reports import ReportWriter
from chalicelib.status import batch_status
from tests.conftest import SAMPLE_BATCH, assert_sample_messages, sample_bytes
from tests.functional.wire import FOLDER, bodies, distinct, is_claim, is_file_record, put, start_batch, status

BATCH_KEY = f"{FOLDER}/{SAMPLE_BATCH}"


def rival_claims(sb) -> PublicationClaims:
    """Another invocation's claims: its own client, straight to moto, past the wire."""
    return PublicationClaims(boto3.client("dynamodb", region_name="us-east-1"),
                             sb.settings.table_name, clock=sb.clock)


def rival_claim(sb, request_id: str):
    """Another invocation claims the batch's next revision from the files as they are now."""
    state = BatchRecords(boto3.client("dynamodb", region_name="us-east-1"),
                         sb.settings.table_name).read_batch(BATCH_KEY)
    return rival_claims(sb).claim(BATCH_KEY, state.versions(), request_id, latest=state.publication)


def test_an_invocation_that_loses_the_publication_claim_publishes_nothing(sandbox, wire):
    items, event = start_batch(sandbox, SAMPLE_BATCH)
    rivals = []

    def rival_claims_first(attempt):
        # Just before this invocation's claim lands, another one (which saw the
        # same file versions) claims them: the real conditional write then fails.
        if is_claim(attempt) and not rivals:
            rivals.append(rival_claim(sandbox, "rival"))

    with wire.fault(rival_claims_first):
        outcome = sandbox.deliver(items, event)

    assert rivals[0].revision == 1
    assert (outcome["status"], outcome["waiting_for"]) == ("accepted", [])
    assert (outcome["published_revision"], outcome["messages"]) == (0, 0)
    assert sandbox.take_messages() == []  # the rival publishes revision 1, not this one
    found = status(sandbox, SAMPLE_BATCH)
    assert (found["revision"], found["publication_state"]) == (1, "publishing")


# --- 6. two invocations completing the batch at the same moment ----------------------
RACES = 20


def test_two_invocations_completing_a_batch_at_once_publish_it_once(sandbox, wire):
    # Each round: customers delivered; orders and items delivered from two
    # threads that are held together twice: once both file records have landed
    # (so both see the batch complete), and again right before the publication
    # claim (so both claims reach DynamoDB together). Only the claim's
    # conditional write can then keep the second one from publishing.
    for round_ in range(RACES):
        batch_id = f"race{round_}"
        sandbox.deliver(put(sandbox, "customers", batch_id))
        keys = [put(sandbox, kind, batch_id) for kind in ("orders", "items")]
        events = [sandbox.event_for(key) for key in keys]
        recorded, claiming = threading.Barrier(2, timeout=10), threading.Barrier(2, timeout=10)
        claims = []

        # The closures bind this round's barriers and lists, not whatever the loop holds when they run.
        def hold_together(attempt, *, recorded=recorded, claiming=claiming, claims=claims):
            if is_file_record(attempt):
                response = attempt.send()
                recorded.wait()
                return response
            if is_claim(attempt):
                claims.append(attempt)
                claiming.wait()
            return None

        results: dict[int, object] = {}

        def invoke(index, *, results=results, keys=keys, events=events):
            try:
                results[index] = sandbox.deliver(keys[index], events[index])
            except Exception as exc:  # noqa: BLE001 - any failure is shown by the assertion below
                results[index] = exc

        with wire.fault(hold_together):
            threads = [threading.Thread(target=invoke, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        assert all(isinstance(r, dict) for r in results.values()), results
        assert len(claims) == 2  # both really went for the claim
        assert sorted(r["published_revision"] for r in results.values()) == [0, 1], round_
        assert all(r["waiting_for"] == [] for r in results.values())
        received = sandbox.take_messages()
        assert_sample_messages(bodies(distinct(received, repeats_allowed=False)), batch_id)
        found = status(sandbox, batch_id)
        assert (found["published"], found["revision"], found["messages"]) == (True, 1, 3)


def test_a_second_completer_leaves_a_claimed_publication_to_its_claimer_until_the_lease_ends(sandbox, wire):
    """Two invocations complete a batch at once; the one that loses the claim finds the
    revision claimed, not published, while the winner is still sending: it must not send
    the messages a second time. A claim whose lease ended was abandoned: taken over."""
    items, event = start_batch(sandbox, SAMPLE_BATCH)
    claims = []

    def winner_claims_first(attempt):
        if is_claim(attempt) and not claims:
            claims.append(rival_claim(sandbox, "winner-request"))

    with wire.fault(winner_claims_first):
        sandbox.deliver(items, event)
    again = sandbox.deliver(items, event)  # an S3 duplicate of the event, the winner still at work

    assert (again["published_revision"], again["messages"]) == (0, 0)
    assert sandbox.take_messages() == []  # nothing sent twice
    assert status(sandbox, SAMPLE_BATCH)["publication_state"] == "publishing"

    # The winner was stopped mid-way and never renewed its claim: once its lease
    # has ended, the next invocation takes the revision over.
    sandbox.clock.advance(PublicationClaims(None, "").lease_seconds + 1)
    taken_over = sandbox.deliver(items, event)

    assert (taken_over["published_revision"], taken_over["messages"]) == (1, 3)
    assert_sample_messages(bodies(distinct(sandbox.take_messages(), repeats_allowed=False)), SAMPLE_BATCH)


# --- a duplicate of the completing event while the revision is being sent -------------
def duplicate_delivery(sandbox, items: str, event: dict) -> dict:
    """S3 delivers the event again (Lambda gives it a request id of its own)."""
    return sandbox.deliver(items, event)


def identical_reupload(sandbox, items: str, event: dict) -> dict:
    """The partner uploads the same bytes again: same ETag, a new event."""
    put(sandbox, "items", SAMPLE_BATCH)
    return sandbox.deliver(items)


@pytest.mark.parametrize("duplicate", [duplicate_delivery, identical_reupload])
def test_a_duplicate_of_the_completing_event_publishes_nothing_while_the_first_is_still_sending(
        sandbox, wire, duplicate):
    items, event = start_batch(sandbox, SAMPLE_BATCH)
    during = []

    def duplicate_while_sending(attempt):
        # The first invocation has claimed revision 1 and sends its first
        # batch of messages; the duplicate runs from start to end meanwhile.
        if attempt.operation == "SendMessageBatch" and not during:
            during.append(None)
            run = threading.Thread(target=lambda: during.append(duplicate(sandbox, items, event)))
            run.start()
            run.join()
        return None

    with wire.fault(duplicate_while_sending):
        first = sandbox.deliver(items, event)

    second = during[1]
    assert (second["status"], second["published_revision"], second["messages"]) == ("duplicate", 0, 0)
    assert (first["published_revision"], first["messages"]) == (1, 3)
    assert_sample_messages(bodies(distinct(sandbox.take_messages(), repeats_allowed=False)), SAMPLE_BATCH)
    found = status(sandbox, SAMPLE_BATCH)
    assert (found["publication_state"], found["revision"], found["messages"]) == ("published", 1, 3)


@pytest.fixture
def short_lease():
    """A lease of two seconds, which the sender renews every half second."""
    with wiring.using(lease_seconds=2):
        yield


def test_a_publication_longer_than_its_lease_keeps_its_claim_while_it_sends(sandbox, wire, short_lease):
    items, event = start_batch(sandbox, SAMPLE_BATCH)
    claims = PublicationClaims(aws.client("dynamodb"), sandbox.settings.table_name, clock=sandbox.clock)
    during = []

    def duplicate_after_several_leases(attempt):
        if attempt.operation == "SendMessageBatch" and not during:
            during.append(None)
            # The send takes five leases; the sender renews its claim meanwhile.
            sandbox.clock.advance(10)
            assert wait_until(lambda: claims.read(BATCH_KEY).lease_live(sandbox.clock())), \
                "the sender did not renew its claim"
            run = threading.Thread(target=lambda: during.append(sandbox.deliver(items, event)))
            run.start()
            run.join()
        return None

    with wire.fault(duplicate_after_several_leases):
        first = sandbox.deliver(items, event)

    assert (during[1]["published_revision"], first["published_revision"]) == (0, 1)
    assert_sample_messages(bodies(distinct(sandbox.take_messages(), repeats_allowed=False)), SAMPLE_BATCH)


def wait_until(condition, timeout: float = 10.0) -> bool:
    """Whether ``condition()`` came true within ``timeout`` seconds (looked at every 50 ms)."""
    give_up = threading.Event()
    timer = threading.Timer(timeout, give_up.set)
    timer.start()
    try:
        while not condition():
            if give_up.wait(0.05):
                return condition()
        return True
    finally:
        timer.cancel()


# --- the sender stopped without a word: a time-out, a crash --------------------------
class Killed(BaseException):
    """The environment is gone: nothing after this point runs, not even clean-up."""


def direct_pipeline(sandbox, sleeps: list) -> Pipeline:
    """The app's pipeline on the sandbox, with the clock's waits recorded and skipped."""
    def sleep(seconds):
        sleeps.append(seconds)
        sandbox.clock.advance(seconds)
    return wiring.build_pipeline(sandbox.settings, sandbox.s3, aws.client("dynamodb"), sandbox.sqs,
                                 wiring.Seams(clock=sandbox.clock, lease_sleep=sleep))


def test_the_retry_of_a_sender_that_was_stopped_waits_for_its_lease_and_finishes_the_revision(
        sandbox, wire, monkeypatch):
    items, event = start_batch(sandbox, SAMPLE_BATCH)
    record = event["Records"][0]
    waits = []
    pipeline = direct_pipeline(sandbox, waits)
    real_release = PublicationClaims.release
    # A dead process writes nothing.
    monkeypatch.setattr(PublicationClaims, "release", lambda self, claim: None)

    def killed_while_sending(attempt):
        if attempt.operation == "SendMessageBatch":
            attempt.send()  # the first messages are out...
            raise Killed()  # ...then the environment is stopped

    with wire.fault(killed_while_sending), pytest.raises(Killed):
        pipeline.process_record(record, invocation_id="request-1")
    monkeypatch.setattr(PublicationClaims, "release", real_release)
    sent_before = sandbox.take_messages()
    assert status(sandbox, SAMPLE_BATCH)["publication_state"] == "publishing"

    # Another event's invocation meanwhile (an S3 duplicate) leaves the claim to its holder.
    other = pipeline.process_record(record, invocation_id="request-2")
    assert (other.published_revision, other.messages, waits) == (0, 0, [])

    # Lambda's retry keeps the request id: it waits out the lease, then finishes.
    retried = pipeline.process_record(record, invocation_id="request-1")

    assert (retried.published_revision, retried.messages) == (1, 3)
    lease = PublicationClaims(None, "").lease_seconds
    assert 0 < sum(waits) <= lease + 1
    # The messages sent before the stop come again, identical (Guarantee 3).
    messages = distinct(sent_before + sandbox.take_messages(), repeats_allowed=True)
    assert_sample_messages(bodies(messages), SAMPLE_BATCH)
    assert status(sandbox, SAMPLE_BATCH)["published"]


def test_a_retry_without_the_time_to_wait_out_the_lease_fails_so_that_a_later_retry_finishes(
        sandbox, wire, monkeypatch):
    items, event = start_batch(sandbox, SAMPLE_BATCH)
    record = event["Records"][0]
    pipeline = direct_pipeline(sandbox, [])
    monkeypatch.setattr(PublicationClaims, "release", lambda self, claim: None)

    def killed_while_sending(attempt):
        if attempt.operation == "SendMessageBatch":
            raise Killed()

    with wire.fault(killed_while_sending), pytest.raises(Killed):
        pipeline.process_record(record, invocation_id="request-1")
    with pytest.raises(PublicationBusyError, match="the next retry publishes it"):
        pipeline.process_record(record, invocation_id="request-1", remaining_ms=lambda: 20_000)
    assert sandbox.take_messages() == []

    sandbox.clock.advance(60)  # Lambda's next retry, a minute later: the lease has ended
    retried = pipeline.process_record(record, invocation_id="request-1", remaining_ms=lambda: 20_000)
    assert retried.published_revision == 1
    assert_sample_messages(bodies(distinct(sandbox.take_messages(), repeats_allowed=False)), SAMPLE_BATCH)


def test_a_sender_that_fails_ends_its_lease_so_any_retry_takes_over_at_once(sandbox, wire):
    items, event = start_batch(sandbox, SAMPLE_BATCH)

    def queue_unavailable(attempt):
        if attempt.operation == "SendMessageBatch":
            from botocore.exceptions import EndpointConnectionError
            raise EndpointConnectionError(endpoint_url=attempt.request.url)

    with wire.fault(queue_unavailable), pytest.raises(Exception, match="Could not connect"):
        sandbox.deliver(items, event)
    # No clock moved: the failed sender released its claim on the way out.
    retried = sandbox.deliver(items, event)

    assert retried["published_revision"] == 1
    assert_sample_messages(bodies(distinct(sandbox.take_messages(), repeats_allowed=False)), SAMPLE_BATCH)


def test_status_says_a_revision_whose_sender_stopped_is_finished_by_a_retry_or_make_replay(sandbox, wire):
    from scripts.status import render
    items, event = start_batch(sandbox, SAMPLE_BATCH)

    def sender_claims_then_is_stopped(attempt):
        if is_claim(attempt):
            rival_claim(sandbox, "stopped-request")
            raise Killed()  # the environment stops before it sent anything

    with wire.fault(sender_claims_then_is_stopped), pytest.raises(Killed):
        sandbox.deliver(items, event)
    sending = status(sandbox, SAMPLE_BATCH)
    assert "is being sent" in render(sending) and "stopped-request" in render(sending)

    sandbox.clock.advance(PublicationClaims(None, "").lease_seconds + 1)  # nobody renews it
    records = BatchRecords(aws.client("dynamodb"), sandbox.settings.table_name, clock=sandbox.clock)
    stopped = render(batch_status(records, ReportWriter(sandbox.s3, sandbox.settings.results_bucket),
                                  BatchRef(FOLDER, SAMPLE_BATCH)))

    assert "its sender stopped before it finished" in stopped and "make replay" in stopped


# --- a claim built from an older view of the files -----------------------------------
ORDERS_V2 = sample_bytes("orders").replace(b"1001,1,250.00", b"1001,1,251.00")
ORDERS_V3 = sample_bytes("orders").replace(b"1001,1,250.00", b"1001,1,252.00")
CUSTOMERS_V2 = sample_bytes("customers").replace(b"John Doe", b"John Q. Doe")


def published_batch(sandbox) -> None:
    for kind in ("customers", "orders", "items"):
        sandbox.deliver(put(sandbox, kind, SAMPLE_BATCH))
    sandbox.take_messages()


def claim_after_a_rival_read_the_files(sandbox, wire, key: str, rival) -> dict:
    """Deliver ``key``'s event; just before its claim lands, ``rival`` (another upload's
    invocation) records its newer file and reads the batch, and claims only after this one."""
    event = sandbox.event_for(key)
    rival_at_claim, claimed = threading.Event(), threading.Event()
    done = []

    def interleave(attempt):
        if not is_claim(attempt):
            return None
        if not done:  # the first invocation's claim: the rival runs up to its own claim first
            done.append(None)
            worker = threading.Thread(target=rival)
            worker.start()
            assert rival_at_claim.wait(10), "the rival never reached its claim"
            response = attempt.send()
            claimed.set()
            worker.join()
            return response
        rival_at_claim.set()  # the rival's claim, held until the first one's has landed
        assert claimed.wait(10)
        return None

    with wire.fault(interleave):
        return sandbox.deliver(key, event)


def latest_messages(sandbox) -> dict[str, dict]:
    taken = bodies(distinct(sandbox.take_messages(), repeats_allowed=False))
    latest = max(b["revision"] for b in taken)
    return {b["id"]: b for b in taken if b["revision"] == latest}


def test_a_claim_from_files_read_before_a_newer_upload_was_recorded_does_not_win(sandbox, wire):
    # A (customers v2) has read the batch with the old orders; B (orders v2)
    # records its file and reads the batch, then A claims, then B. A's claim
    # must not take the new revision with the old orders.
    published_batch(sandbox)
    customers = put(sandbox, "customers", SAMPLE_BATCH, CUSTOMERS_V2)
    orders = put(sandbox, "orders", SAMPLE_BATCH, ORDERS_V2)

    first = claim_after_a_rival_read_the_files(sandbox, wire, customers, lambda: sandbox.deliver(orders))

    assert (first["status"], first["published_revision"]) == ("accepted", 0)
    latest = latest_messages(sandbox)
    assert (latest["1"]["name"], str(latest["1"]["total_amount_spent"])) == ("John Q. Doe", "401.00")
    found = status(sandbox, SAMPLE_BATCH)
    assert (found["revision"], found["published"]) == (2, True)


def test_a_claim_from_a_file_replaced_again_meanwhile_does_not_win(sandbox, wire):
    # A (orders v2) has read the batch; B (orders v3) records and reads it, then
    # A claims, then B: the batch's latest revision must be v3's.
    published_batch(sandbox)
    second = put(sandbox, "orders", SAMPLE_BATCH, ORDERS_V2)

    def third_upload():
        put(sandbox, "orders", SAMPLE_BATCH, ORDERS_V3)
        sandbox.deliver(second)

    outcome = claim_after_a_rival_read_the_files(sandbox, wire, second, third_upload)

    assert outcome["published_revision"] == 0
    assert str(latest_messages(sandbox)["1"]["total_amount_spent"]) == "402.00"
    found = status(sandbox, SAMPLE_BATCH)
    assert (found["revision"], found["publication_state"]) == (2, "published")
