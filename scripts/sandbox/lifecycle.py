"""`make local-up`, `local-down`, `local-deliver`: start, provision, switch and stop the sandbox."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from chalicelib.config import PROJECT_DIR, Settings
from scripts.sandbox.chaos.settings import Chaos, ChaosSpecError
from scripts.sandbox.errors import SandboxError
from scripts.sandbox.inventory import holdings, missing_resources
from scripts.sandbox.modes import choose_mode, docker_answers, requested_mode
from scripts.sandbox.notifications import events_queue_name, load_app, s3_events_of
from scripts.sandbox.processes import endpoint_answers, pid_alive, port_in_use, spawn, stop_process
from scripts.sandbox.state import (
    HOST,
    RUNNER_MODULE,
    TO_FUNCTION,
    TO_RUNNER,
    State,
    changing_state,
    client_env,
    emulator_client,
    load_state,
    sandbox_dir,
    sandbox_port,
    save_state,
    state_path,
)
from scripts.stage.config import Target, load_stage
from scripts.stage.plan import Clients, Deployment, run_plan
from scripts.stage.provision import (
    connect_bucket_to_function,
    connect_bucket_to_queue,
    ensure_queue,
    provision,
)

EMULATOR_MODULE = "scripts.sandbox.emulator"
RUNNER_LOG, EMULATOR_LOG = "runner.log", "emulator.log"
_KEPT_RUNS = 5


def _runner_command(state: State) -> list[str]:
    return [sys.executable, "-m", RUNNER_MODULE, "--stage", state.stage,
            "--chaos", state.chaos, "--chaos-seed", str(state.chaos_seed)]


def start_runner(state: State) -> int:
    # The runner is a child: its environment is how it (and the function, in the
    # environments it starts) reaches the sandbox, as LocalStack sets AWS_ENDPOINT_URL.
    env = {**os.environ, **state.client_env, "PYTHONUNBUFFERED": "1"}
    return spawn(_runner_command(state), sandbox_dir() / RUNNER_LOG, env).pid


def requested_chaos(current: Chaos | None = None) -> Chaos | None:
    """What ``CHAOS`` / ``CHAOS_SEED`` ask for; None when CHAOS is not set (keep what runs)."""
    spec = os.environ.get("CHAOS", "").strip()
    if not spec:
        return None
    raw_seed = os.environ.get("CHAOS_SEED", "").strip()
    if raw_seed and not raw_seed.lstrip("-").isdigit():
        raise SandboxError(f"CHAOS_SEED must be a whole number, got {raw_seed!r}")
    seed = int(raw_seed) if raw_seed else (current.seed if current and current.seed
                                           else random.randrange(1, 10_000))
    try:
        return Chaos.parse(spec, seed)
    except ChaosSpecError as exc:
        raise SandboxError(str(exc)) from exc


def _set_chaos(state: State, chaos: Chaos, say) -> None:
    state.chaos, state.chaos_seed = chaos.spec(), chaos.seed
    if chaos.on:
        say(f"Chaos mode is ON: {chaos.describe()}. The runner injects these faults on purpose "
            f"and logs each as a CHAOS line (make logs); CHAOS=off make local-up turns it off.")


def keep_previous_logs() -> Path | None:
    """Move the last sandbox's logs to ``logs/<time>/``, so that a new start keeps them; its folder.

    The logs of a sandbox that crashed are the evidence of why: a restart must
    not overwrite them. The last ``_KEPT_RUNS`` runs are kept.
    """
    logs = [sandbox_dir() / name for name in (RUNNER_LOG, EMULATOR_LOG)]
    logs = [log for log in logs if log.exists() and log.stat().st_size]
    if not logs:
        return None
    stamp = datetime.fromtimestamp(max(log.stat().st_mtime for log in logs)).strftime("%Y%m%d-%H%M%S")
    folder = sandbox_dir() / "logs" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    for log in logs:
        log.replace(folder / log.name)
    for old in sorted((sandbox_dir() / "logs").iterdir())[:-_KEPT_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def up(stage: str = "local", requested_mode: str | None = None, quiet: bool = False) -> tuple[State, bool]:
    """Start (or reuse) the sandbox; return its state and whether this call started it."""
    with changing_state():
        return _up(stage, requested_mode, quiet)


def _up(stage: str, requested_mode: str | None, quiet: bool) -> tuple[State, bool]:
    say = (lambda *a: None) if quiet else print
    sandbox_dir().mkdir(parents=True, exist_ok=True)
    state = load_state()
    requested = requested_mode or os.environ.get("SANDBOX", "auto")
    if state and is_alive(state):
        _refuse_another_mode(state, requested)
        settings = Settings.for_stage(state.stage)
        missing = missing_resources(settings, state.client("s3"), state.client("dynamodb"),
                                    state.client("sqs"))
        # Provisioning again is harmless and puts back anything deleted by hand.
        _provision(state.client, state.stage, state.mode, state.endpoint, state.port,
                   state.emulator_pid, state.delivery)
        if missing:
            say("Put back what was missing: " + ", ".join(f"{r.label} {r.name}" for r in missing)
                + ".")
        current = Chaos.parse(state.chaos, state.chaos_seed)
        chaos = requested_chaos(current)
        if chaos is not None and chaos != current and state.delivery == TO_RUNNER:
            stop_process(state.runner_pid, RUNNER_MODULE)  # it hands its events to the new one
            _set_chaos(state, chaos, say)
            if not chaos.on:
                say("Chaos mode is off.")
        if state.delivery == TO_RUNNER and not pid_alive(state.runner_pid, RUNNER_MODULE):
            state.runner_pid = start_runner(state)
            save_state(state)
            say(f"Restarted the event runner (pid {state.runner_pid}); it takes back the events "
                f"the stopped one held.")
        say(f"Sandbox already running at {state.endpoint} ({state.mode}).")
        return state, False
    if state:  # left over from a sandbox that died: clear it before starting anew
        _stop(state)
        say(_gone(state, keep_previous_logs()))

    chaos = requested_chaos() or Chaos()
    mode, note = choose_mode(requested, docker_answers)
    if note:
        say(note)
    keep_previous_logs()
    if chaos.on and mode == "localstack":
        raise SandboxError("chaos mode is the local runner's: with LocalStack, S3 invokes the "
                           "function deployed there. Use SANDBOX=embedded (or external) with CHAOS")
    if mode == "external":
        state = _up_external(stage, os.environ["AWS_ENDPOINT_URL"].rstrip("/"), say, chaos)
    elif mode == "localstack":
        state = _up_localstack(stage, say)
    else:
        state = _up_embedded(stage, say, chaos)
    say(f"Provisioned bucket {state.ingest_bucket}, table {state.table_name}, "
        f"queues {state.output_queue_url} and {state.dead_letter_queue_url}.")
    if state.delivery == TO_RUNNER:
        say(f"Event runner started (pid {state.runner_pid}); log: {sandbox_dir() / 'runner.log'}")
    else:
        say(f"S3 events of {state.ingest_bucket} invoke the function deployed in LocalStack "
            f"(`make local-deliver TO=runner` sends them to the local runner instead).")
    return state, True


def _refuse_another_mode(state: State, requested: str) -> None:
    """A running sandbox is reused only as what it is: SANDBOX=<another mode> needs a new one."""
    wanted = requested_mode(requested)
    if wanted not in ("auto", state.mode):
        raise SandboxError(
            f"a sandbox already runs here in {state.mode} mode at {state.endpoint} (started "
            f"{state.started_at}), and SANDBOX={wanted} asks for another: stop it first with "
            f"`make local-down` (it drops the embedded emulator's data), then `make local-up "
            f"SANDBOX={wanted}`; or leave SANDBOX out to use the one that runs")


def _gone(state: State, logs: Path | None) -> str:
    """What a start says of a sandbox that was not stopped with `make local-down`."""
    kept = f" Its logs are kept in {logs}." if logs else ""
    if state.mode == "external":
        return (f"The emulator at {state.endpoint} that the last sandbox used does not answer; "
                f"whatever it held is as that emulator left it.{kept}")
    what = (f"its emulator (pid {state.emulator_pid}) is not running" if state.manages_emulator
            else f"LocalStack at {state.endpoint} does not answer")
    return (f"The sandbox started {state.started_at} is gone: {what} (it crashed, or was "
            f"stopped without `make local-down`). The new one starts EMPTY: the uploads, batch "
            f"records and unread messages of that run are lost, as the emulator keeps nothing "
            f"on disk.{kept}")


def is_alive(state: State) -> bool:
    if state.manages_emulator and not pid_alive(state.emulator_pid, EMULATOR_MODULE):
        return False
    return endpoint_answers(state.endpoint)


def _free_port_or_explain(port: int, what: str) -> None:
    if port_in_use(port):
        raise SandboxError(
            f"port {port} on {HOST} is already in use by a program this sandbox did not start "
            f"(see it with: ss -ltnp 'sport = :{port}'). Stop that program, or choose "
            f"another port: SANDBOX_PORT={port + 1} make local-up. If it is an emulator you "
            f"started yourself, use it as it is: AWS_ENDPOINT_URL=http://localhost:{port} "
            f"SANDBOX=external make local-up ({what} not started)")


def _up_embedded(stage: str, say, chaos: Chaos) -> State:
    port = sandbox_port()
    _free_port_or_explain(port, "the embedded emulator was")
    endpoint = f"http://{HOST}:{port}"
    say(f"Starting the embedded emulator (moto) on {endpoint} ...")
    emulator = spawn([sys.executable, "-m", EMULATOR_MODULE, "-H", HOST, "-p", str(port)],
                      sandbox_dir() / EMULATOR_LOG, {**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait_for(endpoint, emulator)
        state = _provision(_clients_of(endpoint), stage, "embedded", endpoint, port, emulator.pid,
                           TO_RUNNER)
        _set_chaos(state, chaos, say)
        state.runner_pid = start_runner(state)
        save_state(state)
    except BaseException:
        # This call started the emulator and holds its handle: stop it without
        # second-guessing the pid, so that a failed start leaves nothing behind.
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
        raise
    return state


def _up_external(stage: str, endpoint: str, say, chaos: Chaos) -> State:
    if not endpoint_answers(endpoint):
        raise SandboxError(
            f"nothing answers at AWS_ENDPOINT_URL={endpoint}: start the emulator first (e.g. "
            f"`localstack start -d`, or `moto_server -p 4566`), or correct the address")
    say(f"Using the emulator already running at {endpoint} (it is not started or stopped here).")
    port = urlparse(endpoint).port or 0
    state = _provision(_clients_of(endpoint), stage, "external", endpoint, port, 0, TO_RUNNER)
    _set_chaos(state, chaos, say)
    state.runner_pid = start_runner(state)
    save_state(state)
    return state


def _up_localstack(stage: str, say, localstack=None) -> State:
    from scripts.sandbox.localstack import LocalStack
    port = sandbox_port()
    _free_port_or_explain(port, "LocalStack was")
    localstack = localstack or LocalStack(port, sandbox_dir(), os.environ)
    say(f"Starting LocalStack on {localstack.endpoint} (docker compose; the first start "
        f"pulls the image) ...")
    localstack.start()
    try:
        clients = _clients_of(localstack.endpoint)
        # The same steps as an AWS stage: provision, `chalice deploy --stage local`
        # (a child: boto3 in chalice honours the AWS_ENDPOINT_URL of its environment),
        # failed events to the DLQ.
        environ = {**os.environ, **client_env(localstack.endpoint)}
        deployment = Deployment(load_stage(stage),
                                Target(environ["AWS_DEFAULT_REGION"], localstack.endpoint),
                                clients=clients, environ=environ, out=say)
        run_plan(deployment.deploy_plan(), dry_run=False, out=say)
        state = _provision(clients, stage, "localstack", localstack.endpoint, port, 0, TO_FUNCTION)
        save_state(state)
    except BaseException:
        say("Stopping LocalStack, as the start did not complete (`make local-up` starts it again).")
        localstack.stop()
        _forget_local_deployment(stage)
        raise
    return state


def _forget_local_deployment(stage: str) -> None:
    # chalice deploy recorded what it created in LocalStack; without LocalStack's
    # state (the community image keeps none), the next deploy must start afresh.
    (PROJECT_DIR / ".chalice" / "deployed" / f"{stage}.json").unlink(missing_ok=True)


def _wait_for(endpoint: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if endpoint_answers(endpoint):
            return
        if process.poll() is not None:
            raise SandboxError(f"the emulator exited at start-up (code {process.returncode}); "
                               f"see {sandbox_dir() / 'emulator.log'}")
        time.sleep(0.1)
    raise SandboxError(f"the emulator did not answer at {endpoint} within {timeout:.0f}s; "
                       f"see {sandbox_dir() / 'emulator.log'}")


def _clients_of(endpoint: str) -> Clients:
    """The clients of the emulator at ``endpoint``, before there is a State to ask."""
    return lambda service: emulator_client(service, endpoint)


def _provision(clients: Clients, stage: str, mode: str, endpoint: str, port: int, emulator_pid: int,
               delivery: str) -> State:
    """Provision the stage with ``clients`` (the emulator's at ``endpoint``); the sandbox's state."""
    settings = Settings.for_stage(stage)
    s3, sqs = clients("s3"), clients("sqs")
    resources = provision(settings, s3, clients("dynamodb"), sqs)
    events = s3_events_of(load_app(stage), settings.ingest_bucket)
    if not events:
        raise SandboxError(f"the app registers no S3 handler on bucket {settings.ingest_bucket}")
    if delivery == TO_RUNNER:
        events_url = connect_bucket_to_queue(s3, sqs, settings.ingest_bucket,
                                             events_queue_name(settings), events)
    else:
        # The runner's queue exists all the same, for `make local-deliver TO=runner`.
        events_url = ensure_queue(sqs, events_queue_name(settings), {"VisibilityTimeout": "900"})
    return State(mode=mode, stage=stage, endpoint=endpoint, port=port, emulator_pid=emulator_pid,
                 runner_pid=0, started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 ingest_bucket=resources.ingest_bucket, results_bucket=resources.results_bucket,
                 table_name=resources.table_name,
                 output_queue_url=resources.output_queue_url,
                 dead_letter_queue_url=resources.dead_letter_queue_url,
                 events_queue_url=events_url, delivery=delivery)


def deliver(state: State, to: str) -> State:
    """Send the running sandbox's S3 events to the local runner or to the deployed function."""
    with changing_state():
        return _deliver(load_state() or state, to)


def _deliver(state: State, to: str) -> State:
    if to not in (TO_RUNNER, TO_FUNCTION):
        raise SandboxError(f"TO={to!r}: say TO={TO_RUNNER} or TO={TO_FUNCTION}")
    if to == TO_FUNCTION and state.mode != "localstack":
        raise SandboxError(f"the {state.mode} sandbox runs no Lambda functions, so its events "
                           f"can only go to the local runner (SANDBOX=localstack deploys the function)")
    settings = Settings.for_stage(state.stage)
    s3, sqs = state.client("s3"), state.client("sqs")
    events = s3_events_of(load_app(state.stage), settings.ingest_bucket)
    if to == TO_RUNNER:
        connect_bucket_to_queue(s3, sqs, settings.ingest_bucket, events_queue_name(settings), events)
        if not pid_alive(state.runner_pid, RUNNER_MODULE):
            state.runner_pid = start_runner(state)
    else:
        stop_process(state.runner_pid, RUNNER_MODULE)
        state.runner_pid = 0
        function = load_stage(state.stage).event_function
        arn = state.client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
        connect_bucket_to_function(s3, settings.ingest_bucket, arn, events)
    state.delivery = to
    save_state(state)
    return state


def _stop(state: State) -> None:
    stop_process(state.runner_pid, RUNNER_MODULE)
    if state.manages_emulator:
        stop_process(state.emulator_pid, EMULATOR_MODULE)
        _forget_local_deployment(state.stage)  # `make deploy STAGE=local` into it is gone too
    elif state.mode == "localstack":
        from scripts.sandbox.localstack import LocalStack
        LocalStack(state.port, sandbox_dir(), os.environ).stop()
        _forget_local_deployment(state.stage)
    state_path().unlink(missing_ok=True)


def down(quiet: bool = False) -> None:
    with changing_state():
        _down(quiet)


def _down(quiet: bool) -> None:
    say = (lambda *a: None) if quiet else print
    state = load_state()
    if state is None:
        say("Sandbox is not running.")
        return
    if state.mode != "external" and endpoint_answers(state.endpoint):
        held = holdings(Settings.for_stage(state.stage), state.client("s3"), state.client("dynamodb"),
                        state.client("sqs"))
        say(f"The {state.mode} emulator keeps nothing once it stops: dropping {held.describe()}.")
    _stop(state)
    if state.mode == "external":
        say(f"Event runner stopped; the emulator at {state.endpoint} was left running, "
            f"with its data.")
        return
    deadline = time.monotonic() + 10
    while port_in_use(state.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    if port_in_use(state.port):
        raise SandboxError(f"stopped the sandbox, but port {state.port} is still in use")
    say(f"Sandbox stopped; port {state.port} is free.")



def require_running() -> State | None:
    """The running sandbox's state, or None after telling the user how to start it."""
    state = load_state()
    if state is None or not endpoint_answers(state.endpoint):
        print("The sandbox is not running: start it with `make local-up`.", file=sys.stderr)
        return None
    return state

