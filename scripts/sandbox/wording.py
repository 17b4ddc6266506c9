"""How the runner and its tools say what happened: counts, and an invocation in one line."""
from __future__ import annotations

from chalicelib.outcome import OutcomeStatus
from scripts.sandbox.report import Report


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 row``, ``2 rows``: a count with its noun in the right number."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def figures(report: Report) -> str:
    """A REPORT in the words of the one line per invocation: ``61 ms, max 152/1024 MB, billed 62 ms``."""
    text = f"{report.duration_ms:.0f} ms, max {report.max_memory_used_mb}/{report.memory_size_mb} MB"
    if report.init_duration_ms is not None:
        text += f", init {report.init_duration_ms:.0f} ms"
    return text + f", billed {report.billed_duration_ms} ms"


def outcome(result) -> str:
    """The handler's outcome in words, for the one line per invocation."""
    if not isinstance(result, dict):
        return "done"
    status = result.get("status")
    if status == OutcomeStatus.REJECTED:
        return f"{result.get('error')} Report: {result.get('report_key')}"
    if status == OutcomeStatus.SUPERSEDED:
        return f"superseded: {result.get('error')}"
    if status == OutcomeStatus.IGNORED:  # no file, so no batch: only why
        return f"ignored ({result.get('error')})"
    text = f"{status}, {plural(result.get('rows') or 0, 'row')} of batch {result.get('batch_id')}"
    if result.get("published_revision"):
        text += (f", published revision {result['published_revision']} "
                 f"({plural(result['messages'], 'message')})")
    elif result.get("waiting_for"):
        text += f", waiting for {', '.join(result['waiting_for'])}"
    if result.get("error") and not result.get("published_revision"):
        text += f" ({result['error']})"
    return text
