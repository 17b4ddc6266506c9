"""The one error hierarchy of the pipeline.

Errors fall in two families, because they call for opposite reactions:

* ``RejectedInputError``: the partner's input is wrong. Retrying cannot help, so
  the handler records a report and returns; the message says what is wrong,
  where (file, line, column) and what to do.
* everything else (``PublishError``, AWS errors from botocore): the environment
  failed. The handler raises, so Lambda (or the local event runner) retries and,
  in the end, dead-letters the event: nothing is lost.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class PipelineError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigurationError(PipelineError):
    """A setting is missing or malformed."""


class MissingResourceError(ConfigurationError):
    """A table, queue or bucket the stage names does not exist where the function runs."""


SANDBOX_STAGE = "local"  # the stage the sandbox runs
# What AWS answers for a table, bucket or queue that does not exist.
MISSING_RESOURCE_CODES = {"ResourceNotFoundException": "table", "NoSuchBucket": "bucket",
                          "QueueDoesNotExist": "queue",
                          "AWS.SimpleQueueService.NonExistentQueue": "queue"}


def missing_resource(error: Exception, stage: str) -> MissingResourceError | None:
    """``error`` said plainly with the command that makes the resource, if it is a missing one."""
    details = (getattr(error, "response", None) or {}).get("Error", {})
    code = details.get("Code", "")
    if code not in MISSING_RESOURCE_CODES:
        return None
    what = (f"a {MISSING_RESOURCE_CODES[code]} of stage {stage!r} does not exist where the "
            f"function runs ({code}: {details.get('Message', '')})")
    if stage == SANDBOX_STAGE:
        return MissingResourceError(f"{what}. `make local-up` puts the sandbox's table, queues and "
                                    f"buckets back")
    return MissingResourceError(
        f"{what}. The stage's table, queues and buckets are made by `make deploy STAGE={stage}`, "
        f"which a bare `chalice deploy` does not do: run it once; afterwards `chalice deploy "
        f"--stage {stage}` is enough for code changes")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located precisely."""

    line: int
    column: str
    value: str
    reason: str

    def describe(self, with_value: bool = True) -> str:
        where = f"line {self.line}" if self.line else "the file"
        if self.column:
            where += f", column {self.column!r}"
        shown = f" (value {self.value!r})" if self.value and with_value else ""
        return f"{where}: {self.reason}{shown}"


class RejectedInputError(PipelineError):
    """The input cannot be processed as it is; retrying will not help."""

    def __init__(self, file_name: str, problems: Sequence[Problem],
                 problem_count: int | None = None, hint: str = "") -> None:
        self.file_name = file_name
        self.problems = list(problems)
        self.problem_count = len(self.problems) if problem_count is None else problem_count
        self.hint = hint
        super().__init__(self.summary())

    def summary(self, with_values: bool = True) -> str:
        """What is wrong, where, and what to do; ``with_values=False`` for logs, which hold no
        row contents (a value is the partner's data: the report and `make status` show it)."""
        shown = "; ".join(p.describe(with_values) for p in self.problems[:3])
        more = self.problem_count - min(3, len(self.problems))
        if more > 0:
            shown += f"; and {more} more problem(s)"
        text = f"{self.file_name} was rejected: {shown}."
        if self.hint:
            text += f" {self.hint}"
        return text


class UnknownObjectKeyError(RejectedInputError):
    """The object key does not name a customers, orders or items file."""


class InvalidFileError(RejectedInputError):
    """The file's header, encoding, size or rows are invalid."""


class NotUtf8Error(InvalidFileError):
    """A byte that is no UTF-8, on the line of the one problem this error holds."""


class BatchNotFoundError(PipelineError):
    """No such batch (or customer in it) has been processed."""


class BatchNotReadyError(PipelineError):
    """The batch is not in a state that allows what was asked (files missing, publishing)."""


class PublishError(PipelineError):
    """Messages could not be sent to the output queue, even after retries."""


class MessageTooLargeError(PublishError):
    """One customer message is larger than the queue accepts."""
