"""The local sandbox: start, provision, inspect and stop it.

    python -m scripts.sandbox up|down|status|env|run

``SANDBOX`` picks the emulator: ``embedded`` runs moto's server on
127.0.0.1:``SANDBOX_PORT`` (4566), ``localstack`` needs Docker, and ``auto``
(the default) takes LocalStack when a Docker engine answers, else embedded.
State (pids, logs, the resolved queue URLs) lives in ``SANDBOX_DIR`` (.sandbox/).
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
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from chalicelib import aws
from chalicelib.config import PROJECT_DIR, Settings
from chalicelib.errors import PipelineError
from scripts.provision import connect_bucket_to_queue, provision

HOST = "127.0.0.1"
MODES = ("auto", "embedded", "localstack")


class SandboxError(PipelineError):
    """The sandbox cannot be started, reached or stopped; the message says why."""


def sandbox_dir() -> Path:
    return Path(os.environ.get("SANDBOX_DIR") or PROJECT_DIR / ".sandbox")


def sandbox_port() -> int:
    raw = os.environ.get("SANDBOX_PORT") or "4566"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SandboxError(f"SANDBOX_PORT must be a TCP port number, got {raw!r}")
    return int(raw)


def choose_mode(requested: str, docker_answers: Callable[[], bool]) -> tuple[str, str]:
    """The mode to run and a note for the user (empty when there is nothing to say)."""
    requested = (requested or "auto").strip().lower()
    if requested not in MODES:
        raise SandboxError(f"SANDBOX={requested!r} is not one of {', '.join(MODES)}")
    if requested == "embedded":
        return "embedded", ""
    if requested == "localstack":
        raise SandboxError(
            "SANDBOX=localstack is not available in this version: the LocalStack sandbox "
            "(docker-compose.yml plus a deploy of the function into it) is still to come. "
            "Use SANDBOX=embedded, which runs the same flow on moto's server without Docker.")
    if docker_answers():
        return "embedded", ("A Docker engine answers, but the LocalStack sandbox is not "
                            "available in this version yet: using the embedded emulator.")
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

    @property
    def client_env(self) -> dict[str, str]:
        """What a client (boto3, awslocal, the runner) needs to reach this sandbox."""
        return client_env(self.endpoint)

    def env_lines(self) -> dict[str, str]:
        return {**self.client_env,
                "INGEST_BUCKET": self.ingest_bucket, "TABLE_NAME": self.table_name,
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
    if state and pid_alive(state.emulator_pid, "scripts.emulator") and endpoint_answers(state.endpoint):
        # Provisioning again is harmless and puts back anything deleted by hand.
        _provision(state.stage, state.mode, state.endpoint, state.port, state.emulator_pid)
        if not pid_alive(state.runner_pid, "scripts.event_runner"):
            state.runner_pid = start_runner(state)
            save_state(state)
            say(f"Restarted the event runner (pid {state.runner_pid}).")
        say(f"Sandbox already running at {state.endpoint} ({state.mode}).")
        return state, False
    if state:  # left over from a sandbox that died: clear it before starting anew
        stop_process(state.runner_pid, "scripts.event_runner")
        stop_process(state.emulator_pid, "scripts.emulator")
        state_path().unlink(missing_ok=True)

    mode, note = choose_mode(requested_mode or os.environ.get("SANDBOX", "auto"), docker_answers)
    if note:
        say(note)
    port = sandbox_port()
    if port_in_use(port):
        raise SandboxError(
            f"port {port} on {HOST} is already in use by a program this sandbox did not start "
            f"(see it with: ss -ltnp 'sport = :{port}'). Stop that program, or choose "
            f"another port: SANDBOX_PORT={port + 1} make local-up")
    endpoint = f"http://{HOST}:{port}"
    say(f"Starting the embedded emulator (moto) on {endpoint} ...")
    emulator = _spawn([sys.executable, "-m", "scripts.emulator", "-H", HOST, "-p", str(port)],
                      sandbox_dir() / "emulator.log", {**os.environ, "PYTHONUNBUFFERED": "1"},
                      fresh_log=True)
    try:
        _wait_for(endpoint, emulator)
        state = _provision(stage, mode, endpoint, port, emulator.pid)
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
    say(f"Provisioned bucket {state.ingest_bucket}, table {state.table_name}, "
        f"queues {state.output_queue_url} and {state.dead_letter_queue_url}.")
    say(f"Event runner started (pid {state.runner_pid}); log: {sandbox_dir() / 'runner.log'}")
    return state, True


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


def _provision(stage: str, mode: str, endpoint: str, port: int, emulator_pid: int) -> State:
    from scripts.event_runner import events_queue_name, load_app, s3_events_of
    os.environ.update(client_env(endpoint))
    settings = Settings.for_stage(stage)
    s3, sqs = aws.client("s3"), aws.client("sqs")
    resources = provision(settings, s3, aws.client("dynamodb"), sqs)
    events = s3_events_of(load_app(stage), settings.ingest_bucket)
    if not events:
        raise SandboxError(f"the app registers no S3 handler on bucket {settings.ingest_bucket}")
    events_url = connect_bucket_to_queue(s3, sqs, settings.ingest_bucket,
                                         events_queue_name(settings), events)
    return State(mode=mode, stage=stage, endpoint=endpoint, port=port, emulator_pid=emulator_pid,
                 runner_pid=0, started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 ingest_bucket=resources.ingest_bucket, table_name=resources.table_name,
                 output_queue_url=resources.output_queue_url,
                 dead_letter_queue_url=resources.dead_letter_queue_url,
                 events_queue_url=events_url)


def down(quiet: bool = False) -> None:
    say = (lambda *a: None) if quiet else print
    state = load_state()
    if state is None:
        say("Sandbox is not running.")
        return
    stop_process(state.runner_pid, "scripts.event_runner")
    stop_process(state.emulator_pid, "scripts.emulator")
    state_path().unlink(missing_ok=True)
    deadline = time.monotonic() + 10
    while port_in_use(state.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    if port_in_use(state.port):
        raise SandboxError(f"stopped the sandbox, but port {state.port} is still in use")
    say(f"Sandbox stopped; port {state.port} is free.")


def status() -> int:
    state = load_state()
    if state is None:
        print("Sandbox is not running. Start it with: make local-up")
        return 1
    emulator = pid_alive(state.emulator_pid, "scripts.emulator") and endpoint_answers(state.endpoint)
    runner = pid_alive(state.runner_pid, "scripts.event_runner")
    print(f"mode:        {state.mode} (stage {state.stage}), started {state.started_at}")
    print(f"emulator:    {'running' if emulator else 'NOT RUNNING'} at {state.endpoint} "
          f"(pid {state.emulator_pid}; log {sandbox_dir() / 'emulator.log'})")
    print(f"runner:      {'running' if runner else 'NOT RUNNING'} (pid {state.runner_pid}; "
          f"log {sandbox_dir() / 'runner.log'})")
    if emulator:
        os.environ.update(state.client_env)
        sqs = aws.client("sqs")
        for label, url in (("events", state.events_queue_url),
                           ("output", state.output_queue_url),
                           ("dead-letter", state.dead_letter_queue_url)):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            print(f"{label + ' queue:':<13}{attrs['ApproximateNumberOfMessages']} waiting, "
                  f"{attrs['ApproximateNumberOfMessagesNotVisible']} in flight  {url}")
    print(f"bucket:      s3://{state.ingest_bucket}   table: {state.table_name}")
    return 0 if emulator and runner else 1


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
    if pid_alive(state.runner_pid, "scripts.event_runner"):
        # Two runners would compete for the same events: this one takes over.
        stop_process(state.runner_pid, "scripts.event_runner")
        state.runner_pid = 0
        save_state(state)
        print("Stopped the background event runner; `make local-up` starts it again.")
    os.environ.update(state.client_env)
    return event_runner.main(["--stage", stage])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Manage the local sandbox.")
    parser.add_argument("command", choices=("up", "down", "status", "env", "run"))
    parser.add_argument("--stage", default=os.environ.get("STAGE") or "local")
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
        return run_foreground(args.stage)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
