"""`make replay`: send dead-lettered events back through the handler.

Run it once the cause of the failures is fixed. Each dead-letter record (the
shape of a Lambda on-failure destination record) is handled like a new
delivery: on success it leaves the dead-letter queue; if it fails again, its
retries run and a fresh record with the new error replaces it. Messages that are
not event records (customer messages a consumer failed on, redriven from the
output queue) are left in place and counted.

It prints what `make logs` prints, through the same formatter: one line per
replayed event, then a summary. The full records (the function's JSON lines,
each failed attempt with its traceback) go to the runner's log, where
`make logs VERBOSE=1` shows them; ``--verbose`` shows them here too.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from scripts import cli
from scripts.logs import format_line
from scripts.sandbox import lifecycle
from scripts.sandbox.runner import EventRunner, build_runner
from scripts.sandbox.state import sandbox_dir
from scripts.sandbox.visibility import VisibilityKeeper
from scripts.sandbox.wording import plural

# Long enough that nothing taken in this run is handed out again before it ends.
_SNAPSHOT_VISIBILITY = 900
# The runner's log line format (event_runner.main), so that scripts.logs reads replays too.
_RUNNER_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@dataclass
class Pending:
    """A dead-lettered event, as a dry run lists it."""

    key: str
    error: str
    failed_at: str


@dataclass
class ReplayResult:
    replayed: list[str] = field(default_factory=list)
    failed_again: list[str] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    left_in_place: int = 0


def replay(runner: EventRunner, sqs, dlq_url: str, dry_run: bool = False,
           extend_every_seconds: float | None = None) -> ReplayResult:
    result = ReplayResult()
    # Take a snapshot first: records written by this run's own failures must not be replayed again.
    snapshot = []
    while True:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=_SNAPSHOT_VISIBILITY).get("Messages", [])
        if not messages:
            break
        snapshot.extend(messages)
    # Replaying the snapshot can outlast its visibility timeout (each event may
    # take three attempts of up to 15 minutes): its records stay hidden until
    # each is done, so a second replay cannot take them meanwhile.
    keeper = VisibilityKeeper(sqs, dlq_url, _SNAPSHOT_VISIBILITY, extend_every_seconds)
    for message in snapshot:
        keeper.hold(message)
    try:
        for message in snapshot:
            done = _replay_one(runner, message, result, dry_run)
            if done:
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
            keeper.release(message)
    except BaseException:
        # Interrupted (Ctrl-C, the emulator gone): the records not finished, the one being
        # replayed among them, are visible again now rather than in 15 minutes. Replaying
        # one twice is harmless: a file already recorded is a duplicate.
        with contextlib.suppress(Exception):  # the emulator may be the reason
            keeper.hand_back_all()
        raise
    finally:
        keeper.close()
    return result


def _replay_one(runner: EventRunner, message: dict, result: ReplayResult, dry_run: bool) -> bool:
    """Replay one dead-letter record; False if it stays on the queue (no event in it, a dry run,
    no handler)."""
    record = _record_of(message["Body"])
    if record is None:
        result.left_in_place += 1
        return False
    if dry_run:
        failure = record.get("responsePayload") or {}
        error = ": ".join(part for part in (failure.get("errorType"), failure.get("errorMessage")) if part)
        result.pending.extend(Pending(key, error, record.get("timestamp", ""))
                              for key in _keys(record["requestPayload"]))
        return False
    invocations = runner.handle_message(json.dumps(record["requestPayload"]))
    if not invocations:
        # No handler of the app takes this event any more: keep it for a person to look at.
        result.unmatched.extend(_keys(record["requestPayload"]))
        return False
    for invocation in invocations:
        (result.replayed if invocation.ok else result.failed_again).append(invocation.key)
    # Succeeded, or failed again and was dead-lettered anew: either way this record is done.
    return True


def _record_of(body: str) -> dict | None:
    """The on-failure destination record in ``body``, or None if it holds no S3 event."""
    try:
        record = json.loads(body)
    except json.JSONDecodeError:
        return None
    payload = record.get("requestPayload") if isinstance(record, dict) else None
    if isinstance(payload, dict) and payload.get("Records"):
        return record
    return None


def _keys(event: dict) -> list[str]:
    # Keys in S3 events are URL-encoded (a folder's "/" may arrive as %2F): show them decoded.
    return [unquote_plus(r["s3"]["object"]["key"]) for r in event["Records"]]


class _Formatted(io.TextIOBase):
    """Runner log lines written here reach the terminal as `make logs` shows them."""

    def __init__(self, terminal: TextIO, verbose: bool) -> None:
        self._terminal = terminal
        self._verbose = verbose

    def write(self, text: str) -> int:
        for line in text.splitlines():
            shown = format_line(line, self._verbose)
            if shown is not None:
                self._terminal.write(shown + "\n")
        self._terminal.flush()
        return len(text)


class _FunctionOutput(io.TextIOBase):
    """The handler's stdout while it is replayed.

    Its JSON records (Powertools logs, EMF metrics) go to the runner's log, and
    to the terminal only when verbose, compacted. Anything else (a print() or a
    debugger's prompt while someone debugs a handler) reaches the terminal as it is.
    """

    def __init__(self, log: TextIO, terminal: TextIO, verbose: bool) -> None:
        self._log = log
        self._terminal = terminal
        self._verbose = verbose
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def flush(self) -> None:
        if self._partial and not self._partial.startswith("{"):
            self._terminal.write(self._partial)  # a prompt waits for input: show it now
            self._partial = ""
        self._log.flush()
        self._terminal.flush()

    def finish(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""
        # Closed while the log is open: else the stream's own close, when it is collected,
        # flushes a log that is closed by then and prints a traceback at exit.
        self.close()

    def _line(self, line: str) -> None:
        self._log.write(line + "\n")
        if _is_record(line):
            shown = format_line(line, verbose=True) if self._verbose else None
            if shown is not None:
                self._terminal.write(shown + "\n")
        else:
            self._terminal.write(line + "\n")


def _is_record(line: str) -> bool:
    """Whether ``line`` is one of the function's JSON records (not, say, a dict a debugger printed)."""
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


class _OneLinePerEvent(logging.Filter):
    """Leaves out the runner's line for each failed attempt: the final line says what happened."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "attempt", None) is None


@contextlib.contextmanager
def _replay_output(log_path: Path, terminal: TextIO, verbose: bool):
    """For the length of the replay: the runner's records and the handler's output,
    whole to ``log_path`` and as `make logs` shows them to ``terminal``."""
    runner_logger = logging.getLogger("event_runner")
    with open(log_path, "a", encoding="utf-8", buffering=1) as log:
        to_log = logging.StreamHandler(log)
        to_terminal = logging.StreamHandler(_Formatted(terminal, verbose))
        for handler in (to_log, to_terminal):
            handler.setFormatter(logging.Formatter(_RUNNER_FORMAT))
            runner_logger.addHandler(handler)
        if not verbose:
            to_terminal.addFilter(_OneLinePerEvent())
        level, propagate = runner_logger.level, runner_logger.propagate
        runner_logger.setLevel(logging.INFO)
        runner_logger.propagate = False
        function_output = _FunctionOutput(log, terminal, verbose)
        try:
            with contextlib.redirect_stdout(function_output):
                yield function_output
        finally:
            function_output.finish()
            for handler in (to_log, to_terminal):
                runner_logger.removeHandler(handler)
            runner_logger.setLevel(level)
            runner_logger.propagate = propagate


def _copy_lines(fd: int, to: TextIO) -> None:
    """The environments' output, line by line, until the last of them has ended."""
    with open(fd, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            to.write(line)


def summary(result: ReplayResult, dry_run: bool, log_path: Path) -> list[str]:
    """What a person reads at the end of `make replay`, one sentence a line."""
    lines = []
    count = len(result.pending) if dry_run else len(result.replayed) + len(result.failed_again)
    if count == 0 and not result.unmatched:
        lines.append("Nothing to replay: the dead-letter queue holds no event records.")
    elif dry_run:
        lines.append(f"Would replay {plural(count, 'event')} (`make replay` sends "
                     f"{'it' if count == 1 else 'them'} back through the handler):")
        lines.extend(f"  {p.key}  failed {_when(p.failed_at)}: {p.error or 'no error recorded'}"
                     for p in result.pending)
    elif not result.failed_again:
        lines.append(f"Replayed {plural(count, 'event')}: "
                     f"{'it' if count == 1 else 'all'} went through and left the dead-letter queue.")
    else:
        failed = len(result.failed_again)
        lines.append(f"Replayed {plural(count, 'event')}: {len(result.replayed)} went through, "
                     f"{failed} failed again and {'is' if failed == 1 else 'are'} back in the "
                     f"dead-letter queue: {', '.join(result.failed_again)}.")
        lines.append(f"The {'error is' if failed == 1 else 'errors are'} in {log_path}, with the "
                     f"traceback (`make logs VERBOSE=1`); fix the cause and run `make replay` again.")
    if result.unmatched:
        lines.append(f"Left {plural(len(result.unmatched), 'event')} that no handler of the app "
                     f"matches any more in the dead-letter queue: {', '.join(result.unmatched)}.")
    if result.left_in_place:
        lines.append(f"Left {plural(result.left_in_place, 'message')} that "
                     f"{'is not an event record' if result.left_in_place == 1 else 'are not event records'}"
                     f" (customer messages a consumer could not handle) in the dead-letter queue.")
    return lines


def _when(timestamp: str) -> str:
    # Lambda writes ISO 8601 in UTC (2026-11-24T20:40:36.123Z); the sandbox's runner too.
    if len(timestamp) >= 19 and timestamp[10] == "T":
        return f"at {timestamp[:10]} {timestamp[11:19]} UTC"
    return f"at {timestamp}" if timestamp else "at an unknown time"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default=os.environ.get("STAGE") or "local")
    parser.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    parser.add_argument("--verbose", action="store_true", default=bool(os.environ.get("VERBOSE")),
                        help="also each failed attempt with its traceback and the function's "
                             "records (VERBOSE=1 does the same)")
    args = parser.parse_args(argv)
    state = lifecycle.require_running()
    if state is None:
        return 1
    sqs = state.client("sqs")
    # As the runner does it: in execution environments of the package, under the stage's
    # timeout and memory, with the sandbox's endpoint. Their output comes back through a
    # pipe, to be shown as `make logs` shows it.
    output, function_output = os.pipe()
    runner = build_runner(args.stage, sqs, max_attempts=3, retry_delay=1.0, in_process=False,
                          function_environment=state.client_env, function_output=function_output)
    log_path = sandbox_dir() / "runner.log"
    terminal = sys.stdout
    with _replay_output(log_path, terminal, args.verbose) as shown:
        copier = threading.Thread(target=_copy_lines, args=(output, shown), daemon=True)
        copier.start()
        try:
            result = replay(runner, sqs, state.dead_letter_queue_url, args.dry_run)
        except KeyboardInterrupt:
            print("make replay was interrupted: the records it had not finished are back on the "
                  "dead-letter queue; `make replay` takes them again.", file=sys.stderr)
            return 130
        except (BotoCoreError, ClientError) as exc:
            print(f"make replay stopped: the sandbox's emulator failed to answer ({exc}). "
                  f"`make local-status` says what runs; the records it had not finished are on "
                  f"the dead-letter queue for the next `make replay`.", file=sys.stderr)
            return 1
        finally:
            runner.close()  # the environments end: the pipe's last writers
            os.close(function_output)
            copier.join()
    for line in summary(result, args.dry_run, log_path):
        print(line)
    return 1 if result.failed_again else 0


if __name__ == "__main__":
    cli.run(main)
