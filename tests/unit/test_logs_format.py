"""How `make logs` shows the event runner's log to a person."""
from scripts.logs import format_line

RUNNER = ("2026-11-24 20:40:35,123 INFO event_runner incoming/orders_1.csv -> on_csv_uploaded: "
          "accepted, 5 rows of batch 1, waiting for items in 17 ms\n")
FAILED = ("2026-11-24 20:40:36,001 ERROR event_runner orders_1.csv -> on_csv_uploaded: attempt 1/3 "
          "failed: ResourceNotFoundException: table not found\n")
JSON_LOG = ('{"level":"INFO","message":"file accepted","batch_id":"1","file_kind":"orders",'
            '"rows_read":5,"writes":5,"duration_ms":3.2,"invocation_id":"abc"}\n')
EMF = ('{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"OrderPipeline","Dimensions":[["stage"]],'
       '"Metrics":[{"Name":"RowsProcessed","Unit":"Count"}]}]},"stage":"local","RowsProcessed":[5.0]}\n')


def test_one_line_per_invocation_with_time_key_outcome_rows_and_duration():
    assert format_line(RUNNER) == ("20:40:35  incoming/orders_1.csv -> on_csv_uploaded: accepted, "
                                   "5 rows of batch 1, waiting for items in 17 ms")


def test_errors_are_marked_and_keep_their_reason():
    assert format_line(FAILED) == ("20:40:36  ERROR orders_1.csv -> on_csv_uploaded: attempt 1/3 failed: "
                                   "ResourceNotFoundException: table not found")


def test_the_functions_own_records_and_tracebacks_only_when_verbose():
    for line in (JSON_LOG, EMF, '  File "x.py", line 1, in <module>\n'):
        assert format_line(line) is None
    assert format_line(JSON_LOG, verbose=True) == (
        "          INFO file accepted  batch_id=1 file_kind=orders rows_read=5 writes=5 duration_ms=3.2")
    assert format_line(EMF, verbose=True) == "          metrics: RowsProcessed=5.0"


SKIPPED = ("2026-11-24 20:40:37,500 INFO event_runner reports/1/batch.json: skipped, no handler matches "
           "ObjectCreated:Put\n")


def test_an_event_no_handler_matches_is_not_an_invocation_and_shows_only_when_verbose():
    assert format_line(SKIPPED) is None
    assert format_line(SKIPPED, verbose=True) == (
        "20:40:37  reports/1/batch.json: skipped, no handler matches ObjectCreated:Put")


def test_a_key_that_only_mentions_skipping_is_still_shown():
    line = ("2026-11-24 20:40:38,000 INFO event_runner skipped, no handler matches/orders_1.csv -> "
            "on_csv_uploaded: accepted, 1 row of batch 1, waiting for items in 5 ms\n")

    assert format_line(line) == ("20:40:38  skipped, no handler matches/orders_1.csv -> on_csv_uploaded: "
                                 "accepted, 1 row of batch 1, waiting for items in 5 ms")
