"""event_runner: which of the app's S3 handlers S3 would invoke for a record, read from the app."""
from __future__ import annotations

import pytest
from chalice import Chalice

from scripts.sandbox.notifications import matching_handlers, s3_events_of

BUCKET = "ingest"


@pytest.fixture(scope="module")
def app():
    app = Chalice(app_name="matching")

    @app.on_s3_event(bucket=BUCKET, events=["s3:ObjectCreated:*"], suffix=".csv")
    def any_csv(event): ...

    @app.on_s3_event(bucket=BUCKET, events=["s3:ObjectCreated:Put"], prefix="incoming/", suffix=".csv")
    def incoming_put(event): ...

    @app.on_s3_event(bucket=BUCKET, events=["s3:ObjectRemoved:*"])
    def removed(event): ...

    @app.on_s3_event(bucket="other", prefix="incoming/")
    def other_bucket(event): ...

    @app.route("/")  # not an S3 handler: never matched
    def index(): ...

    return app


def record(key: str, event_name: str = "ObjectCreated:Put", bucket: str = BUCKET) -> dict:
    # S3 writes eventName without the "s3:" of the configuration, and the key URL-encoded.
    return {"eventName": event_name, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}


@pytest.mark.parametrize("rec, handlers", [
    pytest.param(record("orders_1.csv"), ["any_csv"], id="top-level-csv"),
    pytest.param(record("incoming/orders_1.csv"), ["any_csv", "incoming_put"], id="prefix-and-suffix"),
    pytest.param(record("incoming/orders_1.csv", "ObjectCreated:Copy"), ["any_csv"], id="copy-is-not-put"),
    pytest.param(record("incoming/a.csv", "ObjectCreated:CompleteMultipartUpload"), ["any_csv"],
                 id="multipart-matches-wildcard"),
    pytest.param(record("incoming/orders_1.txt"), [], id="wrong-suffix"),
    pytest.param(record("incoming/orders_1.CSV"), [], id="suffix-is-case-sensitive"),
    pytest.param(record("Incoming/orders_1.csv"), ["any_csv"], id="prefix-is-case-sensitive"),
    pytest.param(record("archive/incoming/orders_1.csv"), ["any_csv"], id="prefix-only-at-the-start"),
    pytest.param(record("incoming/orders_1.csv", "ObjectRemoved:Delete"), ["removed"], id="removed"),
    pytest.param(record("incoming/orders_1.csv", "ObjectRestore:Post"), [], id="unsubscribed-event"),
    pytest.param(record("incoming/x", bucket="other"), ["other_bucket"], id="default-events-created"),
    pytest.param(record("orders_1.csv", bucket="unknown"), [], id="unknown-bucket"),
])
def test_handlers_matching_bucket_event_prefix_and_suffix(app, rec, handlers):
    assert matching_handlers(app, rec) == handlers


@pytest.mark.parametrize("encoded, handlers", [
    pytest.param("incoming/my+orders_1.csv", ["any_csv", "incoming_put"], id="plus-is-a-space"),
    pytest.param("incoming%2Forders_1.csv", ["any_csv", "incoming_put"], id="encoded-slash"),
    pytest.param("incoming/orders_1%2Ecsv", ["any_csv", "incoming_put"], id="encoded-dot"),
    pytest.param("in+coming/orders_1.csv", ["any_csv"], id="space-in-prefix-is-not-the-prefix"),
    pytest.param("incoming/orders_1.csv%2B", [], id="encoded-plus-is-a-plus"),
])
def test_keys_are_url_decoded_before_matching(app, encoded, handlers):
    assert matching_handlers(app, record(encoded)) == handlers


def test_a_prefix_written_with_a_space_matches_the_plus_encoded_key():
    app = Chalice(app_name="spaces")

    @app.on_s3_event(bucket=BUCKET, prefix="partner drops/", suffix=".csv")
    def drops(event): ...

    assert matching_handlers(app, record("partner+drops/orders_1.csv")) == ["drops"]
    assert matching_handlers(app, record("partner%2Bdrops/orders_1.csv")) == []


def test_s3_events_of_a_bucket_are_the_union_of_its_handlers_events(app):
    assert s3_events_of(app, BUCKET) == ["s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectRemoved:*"]
    assert s3_events_of(app, "other") == ["s3:ObjectCreated:*"]
    assert s3_events_of(app, "unknown") == []

