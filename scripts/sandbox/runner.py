"""The local event runner: S3 -> Lambda where no real Lambda can run.

    python -m scripts.sandbox.runner --stage local [--in-process] [--chaos all --chaos-seed 7]

The sandbox sends the ingest bucket's notifications to an internal SQS queue,
which plays Lambda's own event queue. The runner reads them (``intake``),
matches each record against the S3 handlers the Chalice app registered
(bucket, events, prefix, suffix, read from the app object: ``notifications``),
and invokes the handler as Lambda's runtime would (``invokers``). A failed
invocation is retried like Lambda's asynchronous retries, with the same
request id; when the attempts are spent, the event goes to the dead-letter
queue in the shape of a Lambda on-failure destination record, with the error
(``event_runner``).

As Lambda does, the background runner invokes up to the function's reserved
concurrency at once, each invocation in an execution environment of its own
(a worker process, see ``environments``) that is reused while warm; it stops
an invocation at the stage's ``lambda_timeout`` or when it outgrows
``lambda_memory_size``, and writes a REPORT line for each. In the foreground
(``make local-run``, ``--in-process``) it invokes one event at a time in its
own process, so that ``breakpoint()`` gets the terminal; there it measures
but cannot stop.

It stops promptly on SIGTERM: it takes no more events, stops its
environments, and hands the events it held back to the queue, where the next
runner takes them at once (as it also does with those of a runner that died:
``visibility``). While the emulator does not answer, it waits and tries
again, and says so in its log. With ``CHAOS`` set it delivers events as AWS
does at its worst (``chaos``).

``chalice local`` serves HTTP routes only; this is its counterpart for S3 events.
This module builds the runner and runs it as a process of its own.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from chalicelib import aws
from chalicelib.config import Settings
from scripts.sandbox.chaos.delivery import ChaosDelivery
from scripts.sandbox.chaos.settings import Chaos
from scripts.sandbox.event_runner import EventRunner
from scripts.sandbox.function_config import project_dir
from scripts.sandbox.intake import wait_for_queue_url
from scripts.sandbox.invokers import BeyondThePackage, InProcessInvoker, PoolInvoker
from scripts.sandbox.notifications import events_queue_name, load_app
from scripts.sandbox.processes import pid_alive
from scripts.sandbox.state import RUNNER_MODULE, load_state, sandbox_dir

__all__ = ["EventRunner", "build_runner", "main"]

logger = logging.getLogger("event_runner")

HELD_FILE = "events-held.json"


def build_runner(stage: str, sqs, max_attempts: int | None, retry_delay: float,
                 in_process: bool = True, chaos: Chaos | None = None,
                 stop: threading.Event | None = None,
                 beyond: BeyondThePackage | None = None,
                 function_environment: Mapping[str, str] | None = None,
                 status_file: Path | None = None, function_output: int | None = None,
                 still_ours: Callable[[], bool] | None = None) -> EventRunner:
    """The runner of the stage's events, taking them with ``sqs`` (a client of the sandbox's
    endpoint); ``function_environment`` is what the function gets beside its own variables.
    Environments (not ``in_process``) are listed in ``status_file`` (none if None) and write
    to ``function_output`` (the runner's stdout if None)."""
    settings = Settings.for_stage(stage)
    app = load_app(stage)
    if beyond is not None:
        beyond.say()  # what the app imported at init
    stop = stop or threading.Event()
    events_url = wait_for_queue_url(sqs, events_queue_name(settings), stop)
    chaos = chaos if chaos is not None and chaos.on and not in_process else None
    runner = EventRunner(
        app, sqs, events_queue_url=events_url,
        dead_letter_queue_url=wait_for_queue_url(sqs, settings.dead_letter_queue_name, stop),
        stage=stage, max_attempts=max_attempts, retry_delay=retry_delay,
        invoker=InProcessInvoker(stage, project_dir(), lambda handler: runner.function(handler),
                                 beyond) if in_process else PoolInvoker(
            stage, project_dir(), lambda handler: runner.function(handler),
            status_file, chaos,
            forget_settings=lambda: runner.forget_function_settings(), output=function_output),
        held_file=sandbox_dir() / HELD_FILE,
        delivery=ChaosDelivery(chaos, sqs, events_url) if chaos else None,
        function_environment=function_environment, still_ours=still_ours)
    if chaos:
        logger.warning("chaos mode is ON: %s; each fault injected on purpose is logged on a "
                       "line 'CHAOS <fault>: ...'", chaos.describe())
    return runner


def runs_its_sandbox() -> bool:
    """Whether the sandbox (its state.json) still names this process as its runner: after
    `make local-down`, or a new sandbox in its place, it does not."""
    state = load_state()
    return state is not None and state.runner_pid == os.getpid()


def another_runner() -> int:
    """The pid of the sandbox's runner if that is a live process other than this one, else 0."""
    state = load_state()
    if state is None or state.runner_pid in (0, os.getpid()):
        return 0
    return state.runner_pid if pid_alive(state.runner_pid, RUNNER_MODULE) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local")
    parser.add_argument("--max-attempts", type=int, default=None,
                        help="invocations per event before it is dead-lettered (default: 1 + the "
                             "stage's async_invocation.maximum_retry_attempts, as Lambda)")
    parser.add_argument("--retry-delay", type=float, default=1.0,
                        help="seconds before the first retry; the second waits twice as long")
    parser.add_argument("--in-process", action="store_true",
                        help="one invocation at a time in this process, so breakpoint() works")
    parser.add_argument("--chaos", default="", help="faults to inject (CHAOS), e.g. all")
    parser.add_argument("--chaos-seed", type=int, default=0)
    args = parser.parse_args(argv)
    running = another_runner()
    if running:
        # It would take back the events that runner holds, as a dead runner's, and run them twice.
        print(f"error: the sandbox's event runner already runs (pid {running}). `make local-run` "
              f"takes over from it in the foreground; `make local-up` starts one if none runs.",
              file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stopped = threading.Event()
    runner: EventRunner | None = None
    # A signal handler runs in the main thread between two of its steps, perhaps inside an
    # Event's own lock (a wait, a set), where setting an Event would wait for ever: the
    # handler only writes a byte, and a thread of its own does the stopping.
    wake_read, wake_write = os.pipe()

    def stop_when_signalled() -> None:
        os.read(wake_read, 1)
        stopped.set()
        if runner is not None:
            runner.stop()
    threading.Thread(target=stop_when_signalled, daemon=True, name="stop-on-signal").start()
    signal.signal(signal.SIGTERM, lambda signum, frame: os.write(wake_write, b"!"))
    signal.signal(signal.SIGINT, lambda signum, frame: os.write(wake_write, b"!"))
    chaos = Chaos.parse(args.chaos, args.chaos_seed)
    if chaos.on and args.in_process:
        logger.warning("chaos mode is off in the foreground runner (a kill would end this "
                       "process); the background runner of `make local-up` injects the faults")
    beyond = None
    if args.in_process:
        logger.info("the function runs in this process, with the development venv's packages on "
                    "its path (so that breakpoint() works); the runner says when it imports one "
                    "its deployment package does not hold")
        beyond = BeyondThePackage(project_dir())
    # The runner's endpoint is in its environment, where the sandbox put it for the
    # function too (the environments inherit it; `make local-run` set it in this process).
    runner = build_runner(args.stage, aws.client("sqs"), args.max_attempts, args.retry_delay,
                          args.in_process, chaos=chaos, stop=stopped, beyond=beyond,
                          status_file=sandbox_dir() / "environments.json", still_ours=runs_its_sandbox)
    if stopped.is_set():
        runner.stop()
    runner.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
