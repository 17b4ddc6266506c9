"""Uploads whose name is not ``<kind>_<batch id>.csv``: reported where `make status` finds them,
and forgotten once the file they meant is accepted or their batch is published."""
from __future__ import annotations

from collections.abc import Callable

from chalicelib.keys import MisnamedObjectError, split_key
from chalicelib.outcome import Outcome, OutcomeStatus
from chalicelib.records import BatchRecords, MisnamedFile, batch_scope, folder_scope
from chalicelib.reports import ReportWriter, rejection_report_key, unknown_name_report_key


class MisnamedUploads:
    def __init__(self, records: BatchRecords, reports: ReportWriter, now: Callable[[], str]) -> None:
        self._records = records
        self._reports = reports
        self._now = now

    def report(self, key: str, etag: str, error: MisnamedObjectError) -> Outcome:
        """Report the key; where it names a batch, file it with that batch, else with its folder."""
        folder, file_name = split_key(key)
        if error.batch is not None:
            scope = batch_scope(error.batch.key)
            report_key = rejection_report_key(error.batch.key, file_name)
        else:
            scope, report_key = folder_scope(folder), unknown_name_report_key(key)
        now = self._now()
        # Recorded first: a crash before the report is written is repaired by the retry.
        self._records.record_misnamed(scope, MisnamedFile(
            key=key, kind=error.kind or "", report_key=report_key,
            reason="; ".join(p.reason for p in error.problems), processed_at=now))
        self._reports.write_rejection(report_key, key, etag, error, now)
        return Outcome(key=key, status=OutcomeStatus.REJECTED,
                       batch_id=error.batch.batch_id if error.batch else "", folder=folder,
                       kind=error.kind or "", report_key=report_key, error=str(error),
                       problem_count=error.problem_count)

    def forget(self, scope: str, uploads: list[MisnamedFile]) -> None:
        """Their reports are history: delete them and their records."""
        for upload in uploads:
            self._reports.delete(upload.report_key)
            self._records.forget_misnamed(scope, upload.file_name)

    def forget_in_folder(self, folder: str) -> None:
        """Those of ``folder`` that named no batch: what a batch of the folder published meant."""
        self.forget(folder_scope(folder), self._records.misnamed_in_folder(folder))
