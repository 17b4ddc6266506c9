"""What a person wants to know about one batch: files, rejects, orphans, publication."""
from __future__ import annotations

from typing import Any

from chalicelib.keys import KINDS, BatchRef
from chalicelib.publication import iso_time
from chalicelib.records import REJECTED, BatchRecords, MisnamedFile
from chalicelib.reports import ReportWriter, batch_report_key

_PROBLEMS_SHOWN = 5
NOT_RECEIVED = "not received"  # a file's outcome before any version of it was processed


def batch_status(records: BatchRecords, reports: ReportWriter, batch: BatchRef) -> dict[str, Any]:
    """The batch's status as plain data (the CLI prints it; an HTTP route can return it)."""
    state = records.read_batch(batch.key)
    files: list[dict[str, object]] = []
    for kind in KINDS:
        record = state.files.get(kind)
        if record is None:
            files.append({"kind": kind, "outcome": NOT_RECEIVED})
            continue
        entry: dict[str, object] = {
            "kind": kind, "key": record.key, "etag": record.etag, "rows": record.rows,
            "outcome": record.status, "processed_at": record.processed_at}
        if record.status != REJECTED and record.expires_at:
            # Rows are kept ROW_RETENTION_DAYS; past that the file must be uploaded again.
            entry.update(rows_kept_until=record.expiry_date(),
                         rows_expired=record.expired(state.read_at))
        if record.status == REJECTED:
            report = reports.read(record.report_key) or {}
            entry.update(report_key=record.report_key, problem_count=record.problem_count,
                         problems=report.get("problems", [])[:_PROBLEMS_SHOWN],
                         what_to_do=report.get("what_to_do", ""))
        files.append(entry)
    publication = state.publication
    batch_report = reports.read(batch_report_key(batch.key)) if publication else None
    return {
        "batch_id": batch.batch_id,
        "folder": batch.folder,
        "known": bool(state.files or state.misnamed),
        # Uploads whose name is wrong: of this batch, and of its folder with no batch id.
        "misnamed": [_misnamed(m) for m in state.misnamed],
        "misnamed_in_folder": [_misnamed(m) for m in records.misnamed_in_folder(batch.folder)],
        "files": files,
        "waiting_for": state.missing_kinds(),
        "expired": state.expiry_problem(),
        "published": bool(publication and publication.state == "published"),
        "revision": publication.revision if publication else 0,
        "publication_state": publication.state if publication else "not published",
        "published_at": publication.published_at if publication else "",
        # While a revision is being published: who claimed it, when, and until when its
        # sender's lease runs; a lease that ended unpublished means the sender stopped.
        "claimed_by": publication.claimed_by if publication else "",
        "claimed_at": publication.claimed_at if publication else "",
        "lease_ends_at": (iso_time(publication.lease_expires_at)
                          if publication and not publication.published else ""),
        "sender_stopped": bool(publication and not publication.published
                               and not publication.lease_live(state.read_at)),
        "messages": publication.messages if publication else 0,
        "orphan_order_count": (batch_report or {}).get("orphan_order_count", 0),
        "orphan_item_count": (batch_report or {}).get("orphan_item_count", 0),
        "orphan_orders": (batch_report or {}).get("orphan_orders", [])[:_PROBLEMS_SHOWN],
        "orphan_items": (batch_report or {}).get("orphan_items", [])[:_PROBLEMS_SHOWN],
        "batch_report_key": batch_report_key(batch.key) if batch_report else "",
        "warnings": (batch_report or {}).get("warnings", []),
    }


def _misnamed(record: MisnamedFile) -> dict[str, str]:
    return {"key": record.key, "kind": record.kind, "reason": record.reason,
            "report_key": record.report_key, "processed_at": record.processed_at}
