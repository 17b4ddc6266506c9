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
