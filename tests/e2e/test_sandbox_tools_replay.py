"""`make replay` as a person reads it: one line per replayed event, then a summary."""
from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import sample_bytes
from tests.e2e.conftest import RunningSandbox, free_port, run
from tests.e2e.test_runner_like_lambda import MISBEHAVING, dead_letters, upload

pytestmark = pytest.mark.e2e

KEY = "partner-a/orders_replay.csv"  # in a folder: keys are shown whole, never shortened
CLOCK = r"\d\d:\d\d:\d\d  "


def make(sandbox, *args: str, check: bool = True):
    return run(["make", "-s", *args], sandbox.base_env, check=check)


def waiting_in_dead_letter_queue(sandbox) -> int:
    result = sandbox.awslocal("sqs", "get-queue-attributes", "--queue-url",
                              sandbox.env["DEAD_LETTER_QUEUE_URL"], "--attribute-names",
                              "ApproximateNumberOfMessages")
    return int(json.loads(result.stdout)["Attributes"]["ApproximateNumberOfMessages"])


def test_replay_prints_one_line_per_event_with_its_whole_key_and_a_summary(running_sandbox, tmp_path):
    sandbox = running_sandbox
    sandbox.awslocal("dynamodb", "delete-table", "--table-name", sandbox.env["TABLE_NAME"])
    path = tmp_path / "orders_replay.csv"
    path.write_bytes(sample_bytes("orders"))
    sandbox.awslocal("s3", "cp", str(path), f"s3://{sandbox.env['INGEST_BUCKET']}/{KEY}")
    deadline = time.monotonic() + 60
    while waiting_in_dead_letter_queue(sandbox) < 1:
        assert time.monotonic() < deadline, "the failed event did not reach the dead-letter queue"
        time.sleep(0.5)

    listed = make(sandbox, "replay", "DRY_RUN=1").stdout
    still_broken = make(sandbox, "replay", check=False)
    sandbox.sandbox("up")  # puts the table back
    fixed = make(sandbox, "replay")

    assert listed.splitlines()[0] == "Would replay 1 event (`make replay` sends it back through the handler):"
    assert re.search(rf"^  {re.escape(KEY)}  failed at .+ UTC: MissingResourceError: a table of stage "
                     rf"'local' does not exist .*\(ResourceNotFoundException: .*`make local-up` puts",
                     listed, re.M)

    assert still_broken.returncode != 0
    lines = still_broken.stdout.splitlines()
    assert not any(line.startswith("{") for line in lines)  # no raw JSON records
    [failed] = [line for line in lines if KEY in line and " -> " in line]  # one line, not one per attempt
    assert re.match(rf"{CLOCK}ERROR {re.escape(KEY)} -> on_csv_uploaded: FAILED after 3 attempts, "
                    r"sent to the dead-letter queue: MissingResourceError: a table of stage 'local' "
                    r"does not exist", failed)
    assert (f"Replayed 1 event: 0 went through, 1 failed again and is back in the dead-letter queue: "
            f"{KEY}.") in lines

    lines = fixed.stdout.splitlines()
    assert not any(line.startswith("{") for line in lines)
    [handled] = [line for line in lines if " -> " in line]
    assert re.match(rf"{CLOCK}{re.escape(KEY)} -> on_csv_uploaded: accepted, "
                    r"5 rows of batch replay\b", handled)
    assert lines[-1] == "Replayed 1 event: it went through and left the dead-letter queue."
    assert waiting_in_dead_letter_queue(sandbox) == 0

    # The replays are in the runner's log too, where `make logs` reads them.
    logs = make(sandbox, "logs", "ONCE=1").stdout.splitlines()
    assert handled in logs and failed in logs


def test_replay_runs_each_event_as_lambda_would_under_the_stage_s_timeout(tmp_path):
    # Replayed in execution environments, as the runner invokes: a handler still slower than
    # the timeout times out again instead of passing in the sandbox and failing in Lambda.
    sandbox = RunningSandbox(tmp_path / "sandbox", free_port())
    sandbox.base_env.update(RUNNER_PROJECT_DIR=str(MISBEHAVING), MISBEHAVING_DIR=str(tmp_path),
                            RUNNER_TIMEOUT_SECONDS="1")
    with sandbox.started():
        upload(sandbox, tmp_path, "sleep-3.txt")
        dead_letters(sandbox, "sleep-3.txt")

        replayed = make(sandbox, "replay", check=False)

    assert replayed.returncode != 0, replayed.stdout + replayed.stderr
    [line] = [line for line in replayed.stdout.splitlines() if "sleep-3.txt -> " in line]
    assert "FAILED after 3 attempts" in line and "Task timed out after 1.00 seconds" in line
    assert "sleep-3.txt -> on_csv_uploaded: done" not in replayed.stdout
