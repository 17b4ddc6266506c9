"""Property-based tests of the README's Guarantees, over random batches.

Each example builds its own moto world (function-scoped fixtures are not reset
between Hypothesis examples), drives the app through Chalice's test client, and
checks what a consumer sees: the messages on the output queue (with their
``idempotency_key`` attribute) and the batch status. The expected messages come
from ``reference_messages`` below, a plain recomputation from the generated rows
that does not use ``chalicelib.aggregation``.
"""
from __future__ import annotations

import csv
import io
import threading
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import event as record_event
from hypothesis import strategies as st

from chalicelib import aws, wiring
from chalicelib.keys import BatchRef
from chalicelib.status import batch_status
from tests.functional.conftest import LAMBDA_RETRY_DELAY_SECONDS, Sandbox, running_app
from tests.functional.received import Received, by_idempotency_key

KINDS = ("customers", "orders", "items")
# The seed's field names and order, then this project's two additions.
MESSAGE_FIELDS = ["id", "name", "total_amount_spent", "orders", "batch_id", "folder", "revision"]
ORDER_FIELDS = ["id", "amount", "item_ids"]

# aws_credentials only sets constant dummy credentials in the environment;
# sharing one setting of them across all examples of a test is what we want,
# so the function-scoped-fixture health check does not apply. Everything that
# must be fresh per example (moto, cached clients, the app) is built inside.
PROPERTY_SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


# --- the world of one example ---------------------------------------------------------
def fresh_sandbox():
    """What the ``sandbox`` fixture does, as a context manager usable once per example."""
    return running_app()


def status_of(sb: Sandbox, batch_id: str) -> dict:
    """The batch status without its clock readings (two runs differ only in those)."""
    status = batch_status(*wiring.records_and_reports(sb.settings, clock=sb.clock), BatchRef.parse(batch_id))
    for clock_or_request in ("published_at", "claimed_at", "claimed_by", "lease_ends_at"):
        status.pop(clock_or_request)
    for entry in status["files"]:
        entry.pop("processed_at", None)
        entry.pop("rows_kept_until", None)
    return status


def key_of(kind: str, batch_id: str, prefix: str = "") -> str:
    return f"{prefix}{kind}_{batch_id}.csv"


# --- random batches and the reference ----------------------------------------------
@dataclass(frozen=True)
class Batch:
    customers: tuple  # ((customer_id, name), ...)
    orders: tuple     # ((order_id, customer_id, "12.30"), ...)
    items: tuple      # ((item_id, order_id), ...)

    def rows(self, kind: str) -> tuple:
        return getattr(self, kind)

    def csv_bytes(self, kind: str) -> bytes:
        header = {"customers": ["customer_id", "customer_name"],
                  "orders": ["order_id", "customer_id", "amount"],
                  "items": ["item_id", "order_id"]}[kind]
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(self.rows(kind))
        return text.getvalue().encode("utf-8")


# Numeric ids of different lengths ("2" < "10"): "in id order" means numeric order.
# Small pools make ids collide across batches and orphans appear naturally.
CUSTOMER_IDS = st.integers(1, 12).map(str)
ORDER_IDS = st.integers(1, 120).map(str)
ITEM_IDS = st.integers(1, 999).map(str)
# Names exercise CSV quoting (comma, double quote) and non-ASCII text; the
# parser strips values, so a name neither starts nor ends with a space.
NAMES = st.text(alphabet="abcXYZ ,\"'éßж中", min_size=1, max_size=10).map(str.strip).filter(bool)
AMOUNTS = st.integers(0, 10 ** 9).map(lambda cents: f"{cents // 100}.{cents % 100:02d}")


@st.composite
def customers_rows(draw, min_size=1):
    return tuple(draw(st.lists(st.tuples(CUSTOMER_IDS, NAMES), min_size=min_size, max_size=8,
                               unique_by=lambda row: row[0])))


def _referent(draw, known: list[str], any_id):
    # Mostly a known id; sometimes any id of the pool, which may be an orphan's.
    if known and draw(st.integers(0, 5)):
        return draw(st.sampled_from(known))
    return draw(any_id)


@st.composite
def orders_rows(draw, customer_ids: list[str]):
    ids = draw(st.lists(ORDER_IDS, max_size=12, unique=True))
    return tuple((oid, _referent(draw, customer_ids, CUSTOMER_IDS), draw(AMOUNTS)) for oid in ids)


@st.composite
def items_rows(draw, order_ids: list[str]):
    ids = draw(st.lists(ITEM_IDS, max_size=16, unique=True))
    return tuple((iid, _referent(draw, order_ids, ORDER_IDS)) for iid in ids)


@st.composite
def batches(draw, min_customers=1):
    # At least one customer by default, so that publishing has something to send;
    # property 1 also covers a customers file with no rows.
    customers = draw(customers_rows(min_customers))
    orders = draw(orders_rows([c for c, _ in customers]))
    items = draw(items_rows([o for o, _, _ in orders]))
    return Batch(customers, orders, items)


def reference_messages(batch: Batch, batch_id: str, revision: int,
                       folder: str = "") -> dict[str, dict]:
    """What each customer's message must say, by idempotency key; amounts as Decimal."""
    names = dict(batch.customers)
    orders_of = defaultdict(list)
    for order_id, customer_id, amount in batch.orders:
        if customer_id in names:  # others are orphans: reported, not published
            orders_of[customer_id].append((order_id, Decimal(amount)))
    items_of = defaultdict(list)
    for item_id, order_id in batch.items:
        items_of[order_id].append(item_id)
    expected = {}
    for customer_id, name in batch.customers:
        orders = sorted(orders_of[customer_id], key=lambda o: int(o[0]))
        total = Decimal("0.00")
        for _, amount in orders:
            total += amount
        batch_key = f"{folder}/{batch_id}" if folder else batch_id
        expected[f"{batch_key}/{quote(customer_id, safe='')}/{revision}"] = {
            "id": customer_id, "name": name, "total_amount_spent": total,
            "orders": [{"id": order_id, "amount": amount,
                        "item_ids": sorted(items_of[order_id], key=int)}
                       for order_id, amount in orders],
            "batch_id": batch_id, "folder": folder, "revision": revision}
    return expected


def _exact(value):
    """Decimals as their text, so 400.0 and 400.00 differ (the wire has two places)."""
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


def assert_messages(received: list[Received], expected: dict[str, dict],
                    repeats_allowed: bool = False) -> None:
    """The distinct messages by idempotency key (see by_idempotency_key) are exactly ``expected``."""
    by_key = by_idempotency_key(received, repeats_allowed)
    assert sorted(by_key) == sorted(expected)
    for key, message in by_key.items():
        body = message.parsed
        assert list(body) == MESSAGE_FIELDS
        assert all(list(order) == ORDER_FIELDS for order in body["orders"])
        assert _exact(body) == _exact(expected[key])
        assert dict(message.attributes)["batch_id"] == body["batch_id"]
        assert dict(message.attributes).get("folder", "") == body["folder"]
        assert dict(message.attributes)["customer_id"] == body["id"]
        assert dict(message.attributes)["revision"] == str(body["revision"])


def assert_published(status: dict, revision: int, batch: Batch) -> None:
    assert status["waiting_for"] == []
    assert status["published"] and status["publication_state"] == "published"
    assert status["revision"] == revision
    assert status["messages"] == len(batch.customers)
    assert [f["rows"] for f in status["files"]] == [len(batch.rows(k)) for k in KINDS]


# --- 1. order independence -----------------------------------------------------------
@settings(max_examples=12, **PROPERTY_SETTINGS)
@given(batch=batches(min_customers=0), order=st.permutations(KINDS),
       prefix=st.sampled_from(["", "incoming/"]))
def test_any_upload_order_gives_the_reference_messages(aws_credentials, batch, order, prefix):
    with fresh_sandbox() as sb:
        for kind in order:
            sb.upload(key_of(kind, "20230828", prefix), batch.csv_bytes(kind))

        folder = prefix.rstrip("/")
        assert_messages(sb.take_messages(), reference_messages(batch, "20230828", 1, folder))
        assert_published(status_of(sb, prefix + "20230828"), 1, batch)


# --- 2. duplicated events ------------------------------------------------------------
@st.composite
def delivery_schedules(draw):
    """Each of the three events at least once, some again, in any order."""
    extra = draw(st.lists(st.sampled_from(range(3)), min_size=1, max_size=5))
    return draw(st.permutations([0, 1, 2] + extra))


@settings(max_examples=12, **PROPERTY_SETTINGS)
@given(batch=batches(), order=st.permutations(KINDS), schedule=delivery_schedules())
def test_duplicated_events_give_the_messages_of_one_clean_run(aws_credentials, batch, order,
                                                              schedule):
    with fresh_sandbox() as sb:
        events = []
        for kind in order:  # S3 sends each event after its object is stored
            key = key_of(kind, "B1")
            sb.s3.put_object(Bucket=sb.settings.ingest_bucket, Key=key, Body=batch.csv_bytes(kind))
            events.append((key, sb.event_for(key)))
        for index in schedule:
            key, event = events[index]
            sb.deliver(key, event)  # the very same event, as S3's at-least-once delivery repeats it

        # No failure happened, so not even an identical repeat is allowed.
        assert_messages(sb.take_messages(), reference_messages(batch, "B1", 1))
        assert_published(status_of(sb, "B1"), 1, batch)


# --- 3. crash at a random AWS call, then Lambda's retry -------------------------------
class InjectedCrash(Exception):
    """The invocation dies here (a time-out, an OOM, a lost connection)."""


class CallCounter:
    """Records the AWS calls of the app's clients while armed; can crash at one of them.

    ``crash_at = (n, "before")`` aborts the n-th call of the invocation before it
    is sent; ``(n, "after")`` lets the n-th call land and fails the invocation
    when its answer arrives (a write that succeeded but whose caller died).
    """

    def __init__(self) -> None:
        self.armed = False
        self.crash_at: tuple[int, str] | None = None
        self.calls: list[str] = []  # operation names, in order, of the current invocation
        self.answered = 0
        self.crashed = ""
        self._lock = threading.Lock()
        self._current = threading.local()  # which call this thread is in (row writes use threads)
        self._stop = aws.on_api_call(self._before_call)
        # The pipeline's clients are aws.client's cached ones; after-call is
        # hooked on them directly (on_api_call reports only before a call).
        # That they are the same clients is checked: every call is answered.
        for service in ("s3", "dynamodb", "sqs"):
            aws.client(service).meta.events.register("after-call", self._after_call)

    def close(self) -> None:
        self._stop()

    def _before_call(self, service: str, operation: str) -> None:
        if not self.armed:
            return
        with self._lock:
            self.calls.append(operation)
            self._current.n = len(self.calls)
        if self.crash_at == (self._current.n, "before"):
            self.crashed = f"{operation} (before)"
            raise InjectedCrash(f"before call {self._current.n}: {service} {operation}")

    def _after_call(self, model, **_kwargs) -> None:
        if not self.armed:
            return
        with self._lock:
            self.answered += 1
        if self.crash_at == (self._current.n, "after"):
            self.crashed = f"{model.name} (after)"
            raise InjectedCrash(f"after call {self._current.n}: {model.name}")

    def invoke(self, sb: Sandbox, key: str, event: dict, crash_at=None) -> list[str]:
        """Deliver ``event``; return the operations the invocation called.

        Raises ``InjectedCrash`` when the crash point was reached, as Lambda sees
        a failed invocation.
        """
        self.calls, self.answered = [], 0
        self.crash_at, self.crashed, self.armed = crash_at, "", True
        try:
            sb.deliver(key, event)
        finally:
            self.armed = False
        return self.calls


@contextmanager
def counted_sandbox():
    with fresh_sandbox() as sb:
        counter = CallCounter()
        try:
            yield sb, counter
        finally:
            counter.close()


def put_all(sb: Sandbox, batch: Batch, batch_id: str, order) -> list[tuple[str, dict]]:
    events = []
    for kind in order:
        key = key_of(kind, batch_id)
        sb.s3.put_object(Bucket=sb.settings.ingest_bucket, Key=key, Body=batch.csv_bytes(kind))
        events.append((key, sb.event_for(key)))
    return events


def crash_points(calls: list[str]):
    """Any call of an invocation, before it is sent or after it landed.

    Drawn as operation, then which of its occurrences: a plain integer over
    ~35 calls (24 of them row Queries) would rarely reach the few calls that
    publish (SendMessageBatch, the report's PutObject, the two UpdateItems).
    """
    # Latest first: Hypothesis leans to (and shrinks towards) the first choices,
    # and the last calls are the publishing ones.
    operations = sorted(set(calls), key=lambda op: -max(i for i, o in enumerate(calls) if o == op))

    @st.composite
    def point(draw):
        operation = draw(st.sampled_from(operations))
        n = draw(st.sampled_from([i for i, op in enumerate(calls, 1) if op == operation][::-1]))
        return n, draw(st.sampled_from(["after", "before"]))
    return point()


@settings(max_examples=25, **PROPERTY_SETTINGS)
@given(batch=batches(), order=st.permutations(KINDS), data=st.data())
def test_a_crash_at_any_aws_call_then_a_retry_converges_to_a_clean_run(
        aws_credentials, batch, order, data):
    # The clean run: the reference state, and the calls each invocation makes.
    with counted_sandbox() as (sb, counter):
        clean_calls = []
        for key, event in put_all(sb, batch, "C7", order):
            clean_calls.append(counter.invoke(sb, key, event))
            assert counter.answered == len(counter.calls)  # the hooks see every call of the app
        clean_messages = sb.take_messages()
        clean_status = status_of(sb, "C7")
    assert_messages(clean_messages, reference_messages(batch, "C7", 1))

    # Each invocation may crash once, at its own point; Lambda's retry (the
    # same event, no fault) comes at once or after the other files went through.
    plans = [data.draw(st.tuples(crash_points(calls), st.booleans()) | st.none(),
                       label=f"crash point, retry later? (invocation {i + 1})")
             for i, calls in enumerate(clean_calls)]
    assert_all_crash = any(plans)
    with counted_sandbox() as (sb, counter):
        events = put_all(sb, batch, "C7", order)
        later = []
        for (key, event), plan in zip(events, plans):
            if plan is None:
                counter.invoke(sb, key, event)
                continue
            crash_at, retry_later = plan
            try:
                counter.invoke(sb, key, event, crash_at=crash_at)
            except InjectedCrash:
                record_event(f"crash {counter.crashed}")
            else:
                # Only when an earlier crash moved work here: then this
                # invocation's calls differ from the clean run's.
                assert any(plans[:events.index((key, event))])
                continue
            sb.clock.advance(LAMBDA_RETRY_DELAY_SECONDS)  # Lambda retries a minute later
            if retry_later:
                later.append((key, event))
            else:
                counter.invoke(sb, key, event)
        for key, event in later:
            counter.invoke(sb, key, event)

        # Repeats are the README's "at least once" after a failed publication:
        # byte-identical copies under the same idempotency key, nothing else.
        assert_messages(sb.take_messages(), reference_messages(batch, "C7", 1),
                        repeats_allowed=assert_all_crash)
        assert status_of(sb, "C7") == clean_status


# --- 4. interleaved batches ----------------------------------------------------------
BATCH_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,5}", fullmatch=True)


@st.composite
def interleavings(draw):
    ids = draw(st.lists(BATCH_IDS, min_size=2, max_size=3, unique=True))
    contents = {batch_id: draw(batches()) for batch_id in ids}
    uploads = draw(st.permutations([(batch_id, kind) for batch_id in ids for kind in KINDS]))
    return contents, uploads


@settings(max_examples=8, **PROPERTY_SETTINGS)
@given(case=interleavings())
def test_interleaved_batches_never_mix(aws_credentials, case):
    contents, uploads = case
    with fresh_sandbox() as sb:
        for batch_id, kind in uploads:
            sb.upload(key_of(kind, batch_id), contents[batch_id].csv_bytes(kind))

        # Customer ids overlap between batches (small id pool): each batch's
        # messages still hold exactly its own customers, orders and items.
        expected = {}
        for batch_id, batch in contents.items():
            expected.update(reference_messages(batch, batch_id, 1))
        assert_messages(sb.take_messages(), expected)
        for batch_id, batch in contents.items():
            assert_published(status_of(sb, batch_id), 1, batch)


# --- 5. re-uploads -------------------------------------------------------------------
@st.composite
def changed_batches(draw, batch: Batch):
    """``batch`` with one file replaced by new random content (possibly the same bytes)."""
    kind = draw(st.sampled_from(KINDS))
    if kind == "customers":
        rows = draw(customers_rows())
    elif kind == "orders":
        rows = draw(orders_rows([c for c, _ in batch.customers]))
    else:
        rows = draw(items_rows([o for o, _, _ in batch.orders]))
    return kind, replace(batch, **{kind: rows})


@settings(max_examples=12, **PROPERTY_SETTINGS)
@given(batch=batches(), order=st.permutations(KINDS), data=st.data())
def test_a_changed_reupload_publishes_the_next_revision_and_an_identical_one_nothing(
        aws_credentials, batch, order, data):
    kind, changed = data.draw(changed_batches(batch), label="re-upload")
    with fresh_sandbox() as sb:
        for k in order:
            sb.upload(key_of(k, "R"), batch.csv_bytes(k))
        assert_messages(sb.take_messages(), reference_messages(batch, "R", 1))

        sb.upload(key_of(kind, "R"), changed.csv_bytes(kind))

        if changed.csv_bytes(kind) == batch.csv_bytes(kind):
            assert sb.take_messages() == []  # same bytes, same ETag: an identical re-upload
            revision = 1
        else:
            # The new content only: nothing of the replaced file survives.
            revision = 2
            assert_messages(sb.take_messages(), reference_messages(changed, "R", 2))
        assert_published(status_of(sb, "R"), revision, changed)

        # An identical re-upload (a new event for the same bytes) publishes nothing.
        again = data.draw(st.sampled_from(KINDS), label="identical re-upload")
        sb.upload(key_of(again, "R"), changed.csv_bytes(again))
        assert sb.take_messages() == []
        assert_published(status_of(sb, "R"), revision, changed)
