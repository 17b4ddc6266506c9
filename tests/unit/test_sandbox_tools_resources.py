"""Which buckets, tables and queues `make local-status` checks for a stage."""
from __future__ import annotations

from types import SimpleNamespace

from chalicelib.config import Settings
from scripts.sandbox.inventory import stage_resources
from scripts.sandbox.status import aligned


def rows(settings) -> list[tuple[str, str, str]]:
    return [(r.kind, r.label, r.name) for r in stage_resources(settings)]


def test_every_resource_of_the_local_stage():
    settings = Settings.for_stage("local")

    assert rows(settings) == [
        ("bucket", "bucket", "order-pipeline-local-ingest"),
        ("bucket", "results bucket", "order-pipeline-local-results"),
        ("table", "table", "order-pipeline-local-batches"),
        ("queue", "events queue", "order-pipeline-local-ingest-events"),
        ("queue", "output queue", "order-pipeline-local-customers"),
        ("queue", "dead-letter queue", "order-pipeline-local-dead-letter"),
    ]


def names(results_bucket):
    return SimpleNamespace(ingest_bucket="in", table_name="t", output_queue_name="out",
                           dead_letter_queue_name="dlq", results_bucket=results_bucket)


def test_the_results_bucket_is_checked_once_even_where_it_is_the_ingest_bucket():
    assert ("bucket", "results bucket", "results") in rows(names("results"))
    # The same bucket for both is checked once.
    assert [r for r in rows(names("in")) if r[0] == "bucket"] == [("bucket", "bucket", "in")]


def test_values_start_in_one_column_two_spaces_after_the_longest_label():
    assert aligned([("mode", "embedded"), ("dead-letter queue", "0 waiting")]) == [
        "mode:               embedded",
        "dead-letter queue:  0 waiting",
    ]
