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
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping

from chalicelib import aws
from chalicelib.config import PROJECT_DIR, Settings
from chalicelib.errors import PipelineError
from scripts.provision import (connect_bucket_to_function, connect_bucket_to_queue, ensure_queue,
                              provision)

HOST = "127.0.0.1"
MODES = ("auto", "embedded", "localstack", "external")
# Where the bucket's S3 events go.
TO_RUNNER, TO_FUNCTION = "runner", "function"


class SandboxError(PipelineError):
    """The sandbox cannot be started, reached or stopped; the message says why."""


def sandbox_dir() -> Path:
    return Path(os.environ.get("SANDBOX_DIR") or PROJECT_DIR / ".sandbox")


def sandbox_port() -> int:
    raw = os.environ.get("SANDBOX_PORT") or "4566"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SandboxError(f"SANDBOX_PORT must be a TCP port number, got {raw!r}")
    return int(raw)


def choose_mode(requested: str, docker_answers: Callable[[], bool],
                environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The mode to run and a note for the user (empty when there is nothing to say)."""
    environ = os.environ if environ is None else environ
    requested = (requested or "auto").strip().lower()
    if requested not in MODES:
        raise SandboxError(f"SANDBOX={requested!r} is not one of {', '.join(MODES)}")
    if requested == "embedded":
        return "embedded", ""
    if requested == "external":
        if not environ.get("AWS_ENDPOINT_URL"):
            raise SandboxError(
                "SANDBOX=external uses an emulator that is already running, but AWS_ENDPOINT_URL "
                "is not set: give its address, e.g. "
                "AWS_ENDPOINT_URL=http://localhost:4566 SANDBOX=external make local-up")
        return "external", ""
    if requested == "localstack":
        if not docker_answers():
            raise SandboxError(
                "SANDBOX=localstack needs a running Docker engine, and `docker info` did not "
                "answer. Start Docker (Docker Desktop, or `sudo systemctl start docker`) and try "
                "again, or use SANDBOX=embedded, which runs the same flow without Docker")
        return "localstack", ""
    if docker_answers():
        return "localstack", ("A Docker engine answers: starting LocalStack "
                              "(SANDBOX=embedded runs the emulator without Docker).")
    return "embedded", ""


def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@dataclass
class State:
    mode: str
    stage: str
    endpoint: str
    port: int
    emulator_pid: int
    runner_pid: int
    started_at: str
    ingest_bucket: str
    table_name: str
    output_queue_url: str
    dead_letter_queue_url: str
    events_queue_url: str
    delivery: str = TO_RUNNER
    results_bucket: str = ""

    @property
    def manages_emulator(self) -> bool:
        """Whether this sandbox started its emulator process itself (and stops it)."""
        return self.mode == "embedded"

    @property
    def client_env(self) -> dict[str, str]:
        """What a client (boto3, awslocal, the runner) needs to reach this sandbox."""
        return client_env(self.endpoint)

    def env_lines(self) -> dict[str, str]:
        return {**self.client_env,
                "INGEST_BUCKET": self.ingest_bucket, "RESULTS_BUCKET": self.results_bucket,
                "TABLE_NAME": self.table_name,
                "OUTPUT_QUEUE_URL": self.output_queue_url,
                "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue_url}


def client_env(endpoint: str) -> dict[str, str]:
    # Dummy credentials on purpose: real ones must never be sent to an emulator.
    return {"AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "DISABLE_DEPRECATION_NOTICE": "1"}


def state_path() -> Path:
    return sandbox_dir() / "state.json"


def load_state() -> State | None:
    try:
        return State(**json.loads(state_path().read_text()))
    except FileNotFoundError:
        return None


def save_state(state: State) -> None:
    state_path().write_text(json.dumps(asdict(state), indent=2))


def pid_alive(pid: int, expect: str) -> bool:
    """True when ``pid`` runs and its command line contains ``expect`` (not a recycled pid)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid
    return expect in cmdline


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def endpoint_answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True  # it answered HTTP
    except OSError:
        return False


def stop_process(pid: int, expect: str, timeout: float = 10) -> None:
    if not pid_alive(pid, expect):
        return
    try:
        os.killpg(pid, signal.SIGTERM)  # started in its own session: pgid == pid
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid, expect):
        _reap(pid)
        time.sleep(0.1)
    if pid_alive(pid, expect):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _spawn(command: list[str], log_file: Path, env: dict[str, str],
           fresh_log: bool = False) -> subprocess.Popen:
    with open(log_file, "wb" if fresh_log else "ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=PROJECT_DIR,
                                env=env, start_new_session=True)


def _runner_command(stage: str) -> list[str]:
    return [sys.executable, "-m", "scripts.event_runner", "--stage", stage]


def start_runner(state: State, fresh_log: bool = False) -> int:
    env = {**os.environ, **state.client_env, "PYTHONUNBUFFERED": "1"}
    return _spawn(_runner_command(state.stage), sandbox_dir() / "runner.log", env, fresh_log).pid


def up(stage: str = "local", requested_mode: str | None = None, quiet: bool = False) -> tuple[State, bool]:
    """Start (or reuse) the sandbox; return its state and whether this call started it."""
    say = (lambda *a: None) if quiet else print
    sandbox_dir().mkdir(parents=True, exist_ok=True)
    state = load_state()
    if state and is_alive(state):
        # Provisioning again is harmless and puts back anything deleted by hand.
        _provision(state.stage, state.mode, state.endpoint, state.port, state.emulator_pid,
                   state.delivery)
        if state.delivery == TO_RUNNER and not pid_alive(state.runner_pid, "scripts.event_runner"):
            state.runner_pid = start_runner(state)
            save_state(state)
            say(f"Restarted the event runner (pid {state.runner_pid}).")
        say(f"Sandbox already running at {state.endpoint} ({state.mode}).")
        return state, False
    if state:  # left over from a sandbox that died: clear it before starting anew
        _stop(state)

    mode, note = choose_mode(requested_mode or os.environ.get("SANDBOX", "auto"), docker_answers)
    if note:
        say(note)
    if mode == "external":
        state = _up_external(stage, os.environ["AWS_ENDPOINT_URL"].rstrip("/"), say)
    elif mode == "localstack":
        state = _up_localstack(stage, say)
    else:
        state = _up_embedded(stage, say)
    say(f"Provisioned bucket {state.ingest_bucket}, table {state.table_name}, "
        f"queues {state.output_queue_url} and {state.dead_letter_queue_url}.")
    if state.delivery == TO_RUNNER:
        say(f"Event runner started (pid {state.runner_pid}); log: {sandbox_dir() / 'runner.log'}")
    else:
        say(f"S3 events of {state.ingest_bucket} invoke the function deployed in LocalStack "
            f"(`make local-deliver TO=runner` sends them to the local runner instead).")
    return state, True


def is_alive(state: State) -> bool:
    if state.manages_emulator and not pid_alive(state.emulator_pid, "scripts.emulator"):
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


def _up_embedded(stage: str, say) -> State:
    port = sandbox_port()
    _free_port_or_explain(port, "the embedded emulator was")
    endpoint = f"http://{HOST}:{port}"
    say(f"Starting the embedded emulator (moto) on {endpoint} ...")
    emulator = _spawn([sys.executable, "-m", "scripts.emulator", "-H", HOST, "-p", str(port)],
                      sandbox_dir() / "emulator.log", {**os.environ, "PYTHONUNBUFFERED": "1"},
                      fresh_log=True)
    try:
        _wait_for(endpoint, emulator)
        state = _provision(stage, "embedded", endpoint, port, emulator.pid, TO_RUNNER)
        state.runner_pid = start_runner(state, fresh_log=True)  # a new sandbox, a new log
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


def _up_external(stage: str, endpoint: str, say) -> State:
    if not endpoint_answers(endpoint):
        raise SandboxError(
            f"nothing answers at AWS_ENDPOINT_URL={endpoint}: start the emulator first (e.g. "
            f"`localstack start -d`, or `moto_server -p 4566`), or correct the address")
    say(f"Using the emulator already running at {endpoint} (it is not started or stopped here).")
    port = urlparse(endpoint).port or 0
    state = _provision(stage, "external", endpoint, port, 0, TO_RUNNER)
    state.runner_pid = start_runner(state, fresh_log=True)
    save_state(state)
    return state


def _up_localstack(stage: str, say, localstack=None) -> State:
    from scripts.deploy import Deployment, Target, load_stage, run_plan
    from scripts.localstack import LocalStack
    port = sandbox_port()
    _free_port_or_explain(port, "LocalStack was")
    localstack = localstack or LocalStack(port, sandbox_dir(), os.environ)
    say(f"Starting LocalStack on {localstack.endpoint} (docker compose; the first start "
        f"pulls the image) ...")
    localstack.start()
    try:
        os.environ.update(client_env(localstack.endpoint))
        # The same steps as an AWS stage: provision, `chalice deploy --stage local`
        # (boto3 in chalice honours AWS_ENDPOINT_URL), failed events to the DLQ.
        deployment = Deployment(load_stage(stage),
                                Target(os.environ["AWS_DEFAULT_REGION"], localstack.endpoint), out=say)
        run_plan(deployment.deploy_plan(), dry_run=False, out=say)
        state = _provision(stage, "localstack", localstack.endpoint, port, 0, TO_FUNCTION)
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


def _provision(stage: str, mode: str, endpoint: str, port: int, emulator_pid: int,
               delivery: str) -> State:
    from scripts.event_runner import events_queue_name, load_app, s3_events_of
    os.environ.update(client_env(endpoint))
    settings = Settings.for_stage(stage)
    s3, sqs = aws.client("s3"), aws.client("sqs")
    resources = provision(settings, s3, aws.client("dynamodb"), sqs)
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
    from scripts.deploy import load_stage
    from scripts.event_runner import events_queue_name, load_app, s3_events_of
    if to not in (TO_RUNNER, TO_FUNCTION):
        raise SandboxError(f"TO={to!r}: say TO={TO_RUNNER} or TO={TO_FUNCTION}")
    if to == TO_FUNCTION and state.mode != "localstack":
        raise SandboxError(f"the {state.mode} sandbox runs no Lambda functions, so its events "
                           f"can only go to the local runner (SANDBOX=localstack deploys the function)")
    os.environ.update(state.client_env)
    settings = Settings.for_stage(state.stage)
    s3, sqs = aws.client("s3"), aws.client("sqs")
    events = s3_events_of(load_app(state.stage), settings.ingest_bucket)
    if to == TO_RUNNER:
        connect_bucket_to_queue(s3, sqs, settings.ingest_bucket, events_queue_name(settings), events)
        if not pid_alive(state.runner_pid, "scripts.event_runner"):
            state.runner_pid = start_runner(state, fresh_log=True)
    else:
        stop_process(state.runner_pid, "scripts.event_runner")
        state.runner_pid = 0
        function = load_stage(state.stage).event_function
        arn = aws.client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
        connect_bucket_to_function(s3, settings.ingest_bucket, arn, events)
    state.delivery = to
    save_state(state)
    return state


def _stop(state: State) -> None:
    stop_process(state.runner_pid, "scripts.event_runner")
    if state.manages_emulator:
        stop_process(state.emulator_pid, "scripts.emulator")
    elif state.mode == "localstack":
        from scripts.localstack import LocalStack
        LocalStack(state.port, sandbox_dir(), os.environ).stop()
        _forget_local_deployment(state.stage)
    state_path().unlink(missing_ok=True)


def down(quiet: bool = False) -> None:
    say = (lambda *a: None) if quiet else print
    state = load_state()
    if state is None:
        say("Sandbox is not running.")
        return
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


@dataclass(frozen=True)
class Resource:
    """A bucket, table or queue the stage needs on the emulator."""

    kind: str   # "bucket", "table" or "queue"
    label: str  # how `make local-status` names it
    name: str


def stage_resources(settings: Settings) -> list[Resource]:
    """Every bucket, table and queue the stage needs: what `make local-status` checks."""
    from scripts.event_runner import events_queue_name
    resources = [Resource("bucket", "bucket", settings.ingest_bucket),
                 Resource("bucket", "results bucket", settings.results_bucket)]
    resources.append(Resource("table", "table", settings.table_name))
    resources += [Resource("queue", label, name) for label, name in (
        ("events queue", events_queue_name(settings)),
        ("output queue", settings.output_queue_name),
        ("dead-letter queue", settings.dead_letter_queue_name))]
    # One row per resource, even where two settings name the same one.
    unique = {}
    for resource in resources:
        unique.setdefault((resource.kind, resource.name), resource)
    return list(unique.values())


# What each service answers for a resource that does not exist.
_NOT_FOUND = {"404", "NoSuchBucket", "NotFound", "ResourceNotFoundException",
              "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def describe_resource(resource: Resource, s3, dynamodb, sqs) -> str | None:
    """The resource as status shows it, or None when it is missing on the emulator."""
    from botocore.exceptions import ClientError
    try:
        if resource.kind == "bucket":
            s3.head_bucket(Bucket=resource.name)
            return f"s3://{resource.name}"
        if resource.kind == "table":
            dynamodb.describe_table(TableName=resource.name)
            return resource.name
        url = sqs.get_queue_url(QueueName=resource.name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return (f"{attrs['ApproximateNumberOfMessages']} waiting, "
                f"{attrs['ApproximateNumberOfMessagesNotVisible']} in flight  {url}")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
            return None
        raise


def aligned(rows: list[tuple[str, str]]) -> list[str]:
    """``label:  value`` lines, the values in one column."""
    width = max(len(label) for label, _ in rows) + 3  # the colon, then two spaces at least
    return [f"{label + ':':<{width}}{value}".rstrip() for label, value in rows]


def status() -> int:
    state = load_state()
    if state is None:
        print("Sandbox is not running. Start it with: make local-up")
        return 1
    emulator = is_alive(state)
    runner = pid_alive(state.runner_pid, "scripts.event_runner")
    managed = {"embedded": f"pid {state.emulator_pid}; log {sandbox_dir() / 'emulator.log'}",
               "localstack": "docker compose; logs: docker compose -p order-pipeline-sandbox logs",
               "external": "started elsewhere; not stopped by make local-down"}[state.mode]
    rows = [("mode", f"{state.mode} (stage {state.stage}), started {state.started_at}"),
            ("emulator", f"{'running' if emulator else 'NOT RUNNING'} at {state.endpoint} ({managed})")]
    if state.delivery == TO_RUNNER:
        rows.append(("S3 events", f"to the local runner, {'running' if runner else 'NOT RUNNING'} "
                                  f"(pid {state.runner_pid}; log {sandbox_dir() / 'runner.log'})"))
    else:
        rows.append(("S3 events", "to the function deployed in LocalStack "
                                  "(make local-deliver TO=runner for the local runner)"))
    missing = []
    resources = stage_resources(Settings.for_stage(state.stage))
    if emulator:
        os.environ.update(state.client_env)
        clients = (aws.client("s3"), aws.client("dynamodb"), aws.client("sqs"))
        for resource in resources:
            shown = describe_resource(resource, *clients)
            if shown is None:
                missing.append(resource)
            rows.append((resource.label, shown or f"MISSING  {resource.name}"))
    else:
        rows += [(r.label, f"{r.name} (not checked: the emulator is not running)") for r in resources]
    for line in aligned(rows):
        print(line)
    for resource in missing:
        print(f"missing: {resource.kind} {resource.name} — run `make local-up` to put it back")
    return 0 if emulator and not missing and (runner or state.delivery == TO_FUNCTION) else 1


def require_running() -> State | None:
    """The running sandbox's state, or None after telling the user how to start it."""
    state = load_state()
    if state is None or not endpoint_answers(state.endpoint):
        print("The sandbox is not running: start it with `make local-up`.", file=sys.stderr)
        return None
    return state


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
    from scripts import event_runner
    state = require_running()
    if state is None:
        return 1
    if state.delivery == TO_FUNCTION:
        # Both would get nothing or everything twice: the switch is the user's to make.
        print("S3 events of this sandbox invoke the function deployed in LocalStack, so a "
              "local runner would receive none. Send them here first with "
              "`make local-deliver TO=runner` (and back with `make local-deliver TO=function`).",
              file=sys.stderr)
        return 1
    if pid_alive(state.runner_pid, "scripts.event_runner"):
        # Two runners would compete for the same events: this one takes over.
        stop_process(state.runner_pid, "scripts.event_runner")
        state.runner_pid = 0
        save_state(state)
        print("Stopped the background event runner; `make local-up` starts it again.")
    os.environ.update(state.client_env)
    return event_runner.main(["--stage", stage])


def api_sources(project_dir: Path = PROJECT_DIR) -> dict[Path, int]:
    """Modification times of the files whose change restarts `chalice local`: the
    app's code and its stage settings, nothing else.

    Chalice's own reloader watches every file under the project: .venv, .git,
    __pycache__ and the sandbox's logs and state in .sandbox/ included. The
    runner's and the emulator's log lines alone restarted it about once a
    second, and each restart dropped the requests it was serving.
    """
    paths = [project_dir / "app.py", project_dir / ".chalice" / "config.json",
             *sorted((project_dir / "chalicelib").rglob("*.py"))]
    mtimes = {}
    for path in paths:
        try:
            mtimes[path] = path.stat().st_mtime_ns
        except FileNotFoundError:
            pass  # deleted: its absence is a change too
    return mtimes


def supervise(command: list[str], env: Mapping[str, str], sources: Callable[[], dict[Path, int]],
              name: str, poll: float = 1.0, out: Callable[[str], None] = print,
              stop: threading.Event | None = None, cwd: Path = PROJECT_DIR) -> int:
    """Run ``command`` and start it anew each time ``sources()`` changes.

    Returns the command's exit code if it ends by itself before any change
    (a port already taken, an app that does not import); after a change it
    waits for the next one instead, as the developer is in the middle of an edit.
    """
    stop = stop or threading.Event()
    seen = sources()
    process = subprocess.Popen(command, cwd=cwd, env=dict(env))
    reloaded = told_exit = False
    try:
        while not stop.wait(poll):
            now = sources()
            if now != seen:
                changed = sorted(p for p in now.keys() | seen.keys() if now.get(p) != seen.get(p))
                seen = now
                more = len(changed) - 1
                others = f" and {more} other file{'s' if more > 1 else ''}" if more else ""
                out(f"{_relative(changed[0], cwd)}{others} changed: restarting {name}.")
                _end(process)
                process = subprocess.Popen(command, cwd=cwd, env=dict(env))
                reloaded, told_exit = True, False
                continue
            code = process.poll()
            if code is not None:
                if not reloaded:
                    return code
                if not told_exit:
                    out(f"{name} exited with code {code}; it starts again at the next change "
                        f"(Ctrl-C to stop).")
                    told_exit = True
    finally:
        _end(process)
    return 0


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve_api(host: str, port: int) -> int:
    """`make local-api`: `chalice local` against the running sandbox, restarted on code changes."""
    state = require_running()
    if state is None:
        return 1
    if host == HOST and port_in_use(port):
        raise SandboxError(f"port {port} on {host} is already in use (see it with: ss -ltnp "
                           f"'sport = :{port}'): stop that program, or choose another port: "
                           f"make local-api API_PORT={port + 1}")
    chalice = Path(sys.executable).parent / "chalice"
    # Its own reloader is off (see api_sources); this process restarts it instead.
    command = [str(chalice) if chalice.exists() else "chalice", "local", "--no-autoreload",
               "--stage", state.stage, "--host", host, "--port", str(port)]
    print(f"chalice local on http://{host}:{port}, against the {state.mode} sandbox at "
          f"{state.endpoint}; it restarts when app.py, chalicelib/ or .chalice/config.json "
          f"change (Ctrl-C to stop).", flush=True)
    # `kill <pid>` of this process stops chalice local too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        return supervise(command, {**os.environ, **state.env_lines()}, api_sources,
                         "chalice local")
    except KeyboardInterrupt:
        return 0


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
            state = require_running()
            if state is None:
                return 1
            state = deliver(state, args.to)
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
    sys.exit(main())
