"""The log and metric records a processed, a rejected and a published file produce."""
from __future__ import annotations

import json

from tests.conftest import SAMPLE_BATCH, sample_bytes


def records(capsys) -> tuple[list[dict], list[dict]]:
    """Structured log records and EMF metric records printed to stdout."""
    logs, metrics = [], []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            (metrics if "_aws" in record else logs).append(record)
    return logs, metrics


def metric_values(metrics: list[dict]) -> dict[str, float]:
    values = {}
    for record in metrics:
        for definition in record["_aws"]["CloudWatchMetrics"]:
            assert definition["Namespace"] == "OrderPipeline"
            for metric in definition["Metrics"]:
                value = record[metric["Name"]]
                values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values


def test_an_accepted_file_logs_a_summary_with_its_context_and_counts_its_rows(sandbox, capsys):
    sandbox.upload(f"incoming/orders_{SAMPLE_BATCH}.csv", sample_bytes("orders"))
    logs, metrics = records(capsys)

    [summary] = [r for r in logs if r["message"] == "file accepted"]
    assert summary["level"] == "INFO" and summary["service"] == "order-pipeline"
    assert summary["batch_id"] == SAMPLE_BATCH and summary["file_kind"] == "orders"
    assert summary["object_key"] == f"incoming/orders_{SAMPLE_BATCH}.csv"
    assert summary["etag"] and summary["invocation_id"] and summary["stage"] == "local"
    # Five rows are one chunk item: one write, of one write unit (it is under 1 KB).
    assert (summary["rows_read"], summary["rows_rejected"], summary["writes"],
            summary["write_units"]) == (5, 0, 1, 1)
    assert summary["duration_ms"] >= 0
    assert "250.00" not in json.dumps(logs)  # no row content in the logs
    [file_metrics] = metrics
    assert file_metrics["stage"] == "local" and file_metrics["file_kind"] == "orders"
    # The dimension set docs/operations.md gives: an alarm must name all of them.
    [definition] = file_metrics["_aws"]["CloudWatchMetrics"]
    assert definition["Dimensions"] == [["stage", "file_kind", "service"]]
    assert metric_values(metrics) | {"ProcessingDuration": 0} == {
        "RowsProcessed": 5.0, "RowsRejected": 0.0, "FilesRejected": 0.0, "ProcessingDuration": 0}


def test_a_rejected_file_logs_a_warning_with_its_report_and_counts_the_rejection(sandbox, capsys):
    sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", b"order_id,customer_id,amount\n1,1,1.00\n2,1,x\n3,,1\n")
    logs, metrics = records(capsys)

    [summary] = [r for r in logs if r["message"].startswith("file rejected")]
    assert summary["level"] == "WARNING"
    assert summary["problem_count"] == 2 and (summary["rows_read"], summary["rows_rejected"]) == (3, 2)
    assert summary["report_key"] == f"reports/{SAMPLE_BATCH}/orders_{SAMPLE_BATCH}.csv.json"
    assert "line 3" in summary["message"]
    values = metric_values(metrics)
    assert (values["FilesRejected"], values["RowsRejected"], values["RowsProcessed"]) == (1.0, 2.0, 3.0)


def test_a_rejection_is_logged_by_line_column_and_reason_never_with_the_rows_values(sandbox, capsys):
    outcome = sandbox.upload(f"customers_{SAMPLE_BATCH}.csv",
                             b"customer_id,customer_name\n1,Secret\x01Person\n2,Another Secret,extra\n")
    logs, _ = records(capsys)

    [summary] = [r for r in logs if r["message"].startswith("file rejected")]
    assert "line 2, column 'customer_name'" in summary["message"] and "line 3" in summary["message"]
    # Neither the function's logs nor its result (which Lambda's destinations record) hold a value.
    for text in (json.dumps(logs), json.dumps(outcome)):
        assert "Secret" not in text, text
    # The values are for the partner: in the report, beside the file.
    report = json.loads(sandbox.s3.get_object(Bucket=sandbox.settings.results_bucket,
                                              Key=summary["report_key"])["Body"].read())
    assert [(p["line"], p["column"]) for p in report["problems"] if "Secret" in p["value"]] == [
        (2, "customer_name"), (3, "")]


def test_a_publication_logs_and_counts_batches_messages_and_orphans(sandbox, capsys):
    sandbox.upload(f"customers_{SAMPLE_BATCH}.csv", sample_bytes("customers"))
    sandbox.upload(f"orders_{SAMPLE_BATCH}.csv", sample_bytes("orders") + b"9001,77,1.00\n")
    capsys.readouterr()
    sandbox.upload(f"items_{SAMPLE_BATCH}.csv", sample_bytes("items"))
    logs, metrics = records(capsys)

    [published] = [r for r in logs if r["message"] == "batch published"]
    assert (published["revision"], published["messages"], published["orphan_orders"]) == (1, 3, 1)
    assert published["batch_id"] == SAMPLE_BATCH
    assert {tuple(d) for m in metrics for definition in m["_aws"]["CloudWatchMetrics"]
            for d in definition["Dimensions"]} >= {("stage", "service")}
    values = metric_values(metrics)
    assert (values["BatchesPublished"], values["MessagesPublished"], values["OrphanOrders"],
            values["OrphanItems"]) == (1.0, 3.0, 1.0, 0.0)


def test_a_failure_is_logged_with_its_context_before_it_is_retried(sandbox, capsys, monkeypatch):
    import pytest

    from chalicelib.records import BatchRecords

    def unavailable(self, batch_id):
        raise ConnectionError("DynamoDB is unreachable")

    monkeypatch.setattr(BatchRecords, "read_batch", unavailable)
    with pytest.raises(ConnectionError):
        sandbox.upload(f"items_{SAMPLE_BATCH}.csv", sample_bytes("items"))
    logs, _ = records(capsys)

    [error] = [r for r in logs if r["level"] == "ERROR"]
    assert error["message"] == "processing failed; the event will be retried"
    assert "DynamoDB is unreachable" in error["exception"]
    assert error["batch_id"] == SAMPLE_BATCH and error["file_kind"] == "items"


def test_the_log_level_comes_from_configuration(capsys):
    from chalicelib.telemetry import Telemetry
    telemetry = Telemetry("test", log_level="WARNING")
    try:
        telemetry.file_done("accepted", "orders", rows_read=5, rows_rejected=0, writes=5, duration_ms=1)
        telemetry.file_done("rejected", "orders", rows_read=1, rows_rejected=1, writes=0,
                            duration_ms=1, problem_count=1, report_key="reports/x.json", detail="bad")
        logs, metrics = records(capsys)
    finally:
        Telemetry("test", log_level="INFO")
    assert [r["message"] for r in logs] == ["file rejected: bad"]
    assert len(metrics) == 2  # metrics do not depend on the log level


def test_tracing_is_off_for_the_local_stage():
    import json as json_module

    from tests.conftest import PROJECT_DIR
    stage = json_module.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())["stages"]["local"]
    assert stage["xray"] is False
    assert stage["environment_variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
