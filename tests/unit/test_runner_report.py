"""The REPORT line the runner writes per invocation, as Lambda writes it, and read back."""
from scripts.logs import format_line
from scripts.sandbox.report import Report, parse_report

COLD = Report("abc-1", 12.341, 1024, 87, init_duration_ms=456.784)


def test_a_cold_start_report_has_lambdas_fields_in_lambdas_order():
    assert COLD.line() == ("REPORT RequestId: abc-1\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
                           "Memory Size: 1024 MB\tMax Memory Used: 87 MB\tInit Duration: 456.78 ms")


def test_a_warm_report_has_no_init_duration_and_a_stopped_one_says_why():
    warm = Report("abc-2", 2000.0, 128, 129, status="error", error_type="Runtime.OutOfMemory")
    assert "Init Duration" not in warm.line()
    assert warm.line().endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    assert warm.billed_duration_ms == 2000


def test_a_report_reads_back_from_a_runner_log_line():
    line = f"2026-12-02 18:03:59,248 INFO event_runner {COLD.line()}"
    assert parse_report(line) == Report("abc-1", 12.34, 1024, 87, init_duration_ms=456.78)
    assert parse_report("2026-12-02 18:03:59,248 INFO event_runner a.csv -> f: done in 3 ms") is None


def test_more_than_80_percent_of_the_timeout_or_memory_is_a_warning():
    assert Report("r", 700.0, 1024, 800).warnings(timeout_seconds=1) == []
    assert Report("r", 850.0, 1024, 900).warnings(timeout_seconds=1) == [
        "took 85% of its timeout (0.8 of 1 s)", "used 88% of its memory (900 of 1024 MB)"]


def test_make_logs_leaves_the_raw_report_to_verbose_and_marks_warnings():
    raw = f"2026-12-02 18:03:59,248 INFO event_runner {COLD.line()}\n"
    warning = "2026-12-02 18:04:00,001 WARNING event_runner a.csv -> f: used 88% of its memory\n"
    assert format_line(raw) is None
    assert format_line(raw, verbose=True).startswith("18:03:59  REPORT RequestId: abc-1 Duration: 12.34 ms")
    assert format_line(warning) == "18:04:00  WARNING a.csv -> f: used 88% of its memory"
