"""The local sandbox: start, provision, inspect and stop it.

    python -m scripts.sandbox up|down|status|env|run|deliver|api

``SANDBOX`` picks the emulator:

- ``embedded`` runs moto's server on 127.0.0.1:``SANDBOX_PORT`` (4566) and the
  local event runner, which invokes the handler for each S3 event;
- ``localstack`` starts LocalStack with docker-compose.yml and deploys the app
  into it with `chalice deploy --stage local`, so S3 invokes the real function;
- ``external`` uses the endpoint already running at ``AWS_ENDPOINT_URL``
  (LocalStack started by hand, a shared emulator): it provisions it and starts
  the runner, and starts or stops nothing else;
- ``auto`` (the default) is ``localstack`` when a Docker engine answers, else
  ``embedded``.

Where S3 events go is explicit (``deliver``): to the local runner, or, in
LocalStack, to the deployed function. State (pids, logs, the resolved queue
URLs) lives in ``SANDBOX_DIR`` (.sandbox/). ``api`` serves the app's HTTP
routes with ``chalice local`` against the running sandbox.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from chalicelib.errors import PipelineError
from scripts import cli
from scripts.sandbox.lifecycle import (
    RUNNER_MODULE,
    deliver,
    down,
    pid_alive,
    require_running,
    save_state,
    stop_process,
    up,
)
from scripts.sandbox.local_api import serve_api
from scripts.sandbox.state import HOST, TO_FUNCTION, TO_RUNNER, State, changing_state
from scripts.sandbox.status import status


def print_env() -> int:
    state = require_running()
    if state is None:
        return 1
    lines = state.env_lines()
    for key, value in lines.items():
        print(f"{key}={shlex.quote(value)}")
    # So that `eval "$(make -s local-env)"` also hands them to awslocal and scripts.
    print("export " + " ".join(lines))
    return 0


def run_foreground(stage: str) -> int:
    # Read, stop the runner that runs, register and become the runner, as one step: the
    # lock's file closes with the exec (not inherited), once this process's command line
    # is the runner's, which is what `make local-up` looks for.
    with changing_state():
        state = require_running()
        if state is None:
            return 1
        if not _take_over_as_runner(state):
            return 1
        # Here the function runs in this very process, as Lambda would run it with the
        # AWS_ENDPOINT_URL that LocalStack sets: the sandbox's endpoint and dummy credentials
        # in this process's environment are the function's, and the runner's with them.
        os.environ.update(state.client_env)
        os.execv(sys.executable, [sys.executable, "-m", RUNNER_MODULE, "--stage", stage, "--in-process"])


def _take_over_as_runner(state: State) -> bool:
    """Stop the runner that runs and name this process the sandbox's runner; False (having
    said why) if the sandbox's events go elsewhere."""
    if state.delivery == TO_FUNCTION:
        # Both would get nothing or everything twice: the switch is the user's to make.
        print("S3 events of this sandbox invoke the function deployed in LocalStack, so a "
              "local runner would receive none. Send them here first with "
              "`make local-deliver TO=runner` (and back with `make local-deliver TO=function`).",
              file=sys.stderr)
        return False
    if pid_alive(state.runner_pid, RUNNER_MODULE):
        # Two runners would compete for the same events: this one takes over.
        stopped, state.runner_pid = state.runner_pid, 0
        stop_process(stopped, RUNNER_MODULE)
        save_state(state)
        print(f"Stopped the event runner that ran (pid {stopped}): this one takes over; "
              f"once it stops, `make local-up` starts a background runner again.")
    # This process becomes the sandbox's runner (exec keeps its pid and its terminal):
    # `make local-status` shows it running, `make local-up` starts no second one beside
    # it, `make local-down` stops it.
    state.runner_pid = os.getpid()
    save_state(state)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Manage the local sandbox.")
    parser.add_argument("command", choices=("up", "down", "status", "env", "run", "deliver", "api"))
    parser.add_argument("--stage", default=os.environ.get("STAGE") or "local")
    parser.add_argument("--to", choices=(TO_RUNNER, TO_FUNCTION),
                        help="deliver: where the bucket's S3 events go")
    parser.add_argument("--host", default=HOST, help="api: the address chalice local listens on")
    parser.add_argument("--port", type=int, default=8000, help="api: its port")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            state, _ = up(args.stage)
            print("Next: eval \"$(make -s local-env)\"; "
                  "awslocal s3 cp data/customers_20230828.csv s3://$INGEST_BUCKET/")
            return 0
        if args.command == "down":
            down()
            return 0
        if args.command == "status":
            return status()
        if args.command == "env":
            return print_env()
        if args.command == "api":
            return serve_api(args.host, args.port)
        if args.command == "deliver":
            if not args.to:
                parser.error("deliver needs --to runner or --to function")
            running = require_running()
            if running is None:
                return 1
            state = deliver(running, args.to)
            where = (f"local event runner (pid {state.runner_pid}; `make local-run` takes over "
                     f"in the foreground)" if args.to == TO_RUNNER
                     else "function deployed in LocalStack")
            print(f"S3 events of {state.ingest_bucket} now go to the {where}.")
            return 0
        return run_foreground(args.stage)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    cli.run(main)
