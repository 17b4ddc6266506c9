"""LocalStack in Docker, for `make local-up SANDBOX=localstack`.

Starts and stops the container of docker-compose.yml and waits until the
services the pipeline needs are up, with errors that say what to do (no Docker
engine, an image that wants an auth token, a container that exits). Commands
run through an injected runner and health is read through an injected
fetcher, so the decisions are tested without Docker.
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from chalicelib.config import PROJECT_DIR
from chalicelib.errors import PipelineError

COMPOSE_FILE = PROJECT_DIR / "docker-compose.yml"
# A fixed project name: `down` finds the container whatever folder it runs from.
COMPOSE_PROJECT = "order-pipeline-sandbox"
SERVICE = "localstack"
HEALTH_PATH = "/_localstack/health"
# What the pipeline and `chalice deploy --stage local` call (routes: apigateway).
REQUIRED_SERVICES = ("s3", "sqs", "dynamodb", "lambda", "iam", "logs", "sts", "apigateway")
READY_STATES = frozenset({"available", "running"})
# Words in the container's log that mean the image will not start without a token.
_AUTH_TOKEN_SIGNS = ("auth token", "auth_token", "license activation", "no credentials")


class LocalStackError(PipelineError):
    """LocalStack could not be started, reached or stopped; the message says why."""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    output: str  # stdout and stderr together; "" when not captured


# argv, environment, capture the output (else it goes to this terminal)
CommandRunner = Callable[[Sequence[str], Mapping[str, str], bool], CommandResult]
HealthFetcher = Callable[[str], dict | None]


def run_command(argv: Sequence[str], env: Mapping[str, str], capture: bool) -> CommandResult:
    try:
        completed = subprocess.run(list(argv), env=dict(env), check=False, text=True,
                                   stdout=subprocess.PIPE if capture else None,
                                   stderr=subprocess.STDOUT if capture else None)
    except FileNotFoundError as exc:
        return CommandResult(127, f"{argv[0]}: command not found ({exc})")
    return CommandResult(completed.returncode, completed.stdout or "")


def fetch_health(endpoint: str) -> dict | None:
    """LocalStack's health document, or None while nothing answers."""
    try:
        with urllib.request.urlopen(endpoint + HEALTH_PATH, timeout=2) as response:
            return json.loads(response.read() or b"{}")
    except (OSError, ValueError):  # URLError and refused connections are OSErrors
        return None


def compose_command(*args: str) -> list[str]:
    return ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", COMPOSE_PROJECT, *args]


def not_ready(health: dict | None) -> list[str]:
    """The required services that are not up yet, as 'name (state)'."""
    services = (health or {}).get("services", {})
    return [f"{name} ({services.get(name, 'missing')})" for name in REQUIRED_SERVICES
            if services.get(name) not in READY_STATES]


class LocalStack:
    """The LocalStack container of docker-compose.yml on 127.0.0.1:``port``."""

    def __init__(self, port: int, sandbox_dir: Path, environ: Mapping[str, str],
                 run: CommandRunner = run_command, health: HealthFetcher = fetch_health,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self._sandbox_dir = sandbox_dir
        self._environ = dict(environ)
        self._run = run
        self._health = health
        self._sleep = sleep
        self._clock = clock

    def compose_env(self) -> dict[str, str]:
        # docker-compose.yml reads these; LOCALSTACK_IMAGE and LOCALSTACK_AUTH_TOKEN
        # pass through from the caller's environment when set.
        return {**self._environ, "SANDBOX_PORT": str(self.port),
                "SANDBOX_DIR": str(self._sandbox_dir.resolve())}

    def start(self, timeout: float = 180) -> None:
        """`docker compose up -d`, then wait until the required services are up."""
        (self._sandbox_dir / "localstack").mkdir(parents=True, exist_ok=True)
        # Not captured: pulling the image the first time takes minutes and shows progress.
        command = compose_command("up", "--detach")
        started = self._run(command, self.compose_env(), False)
        if started.returncode != 0:
            raise LocalStackError(
                f"`{' '.join(command)}` failed (exit {started.returncode}, "
                f"its output is above). Check that Docker runs (`docker info`) and that Docker "
                f"Compose v2 is installed (`docker compose version`); or use SANDBOX=embedded, "
                f"which needs no Docker")
        self.wait_until_healthy(timeout)

    def wait_until_healthy(self, timeout: float) -> None:
        deadline = self._clock() + timeout
        while True:
            waiting_for = not_ready(self._health(self.endpoint))
            if not waiting_for:
                return
            if not self._container_running():
                raise LocalStackError(self._failure("the LocalStack container stopped while starting"))
            if self._clock() >= deadline:
                raise LocalStackError(self._failure(
                    f"LocalStack did not become healthy at {self.endpoint}{HEALTH_PATH} within "
                    f"{timeout:.0f} s; still waiting for: {', '.join(waiting_for)}"))
            self._sleep(2)

    def _container_running(self) -> bool:
        listed = self._run(compose_command("ps", "--status", "running", "--quiet", SERVICE),
                           self.compose_env(), True)
        return listed.returncode == 0 and bool(listed.output.strip())

    def logs(self, lines: int = 40) -> str:
        return self._run(compose_command("logs", "--no-color", "--tail", str(lines), SERVICE),
                         self.compose_env(), True).output

    def _failure(self, what: str) -> str:
        log = self.logs()
        if any(sign in log.lower() for sign in _AUTH_TOKEN_SIGNS):
            hint = ("The image asks for an auth token: set LOCALSTACK_AUTH_TOKEN (from "
                    "app.localstack.cloud), or use the image pinned in docker-compose.yml, "
                    "the last that starts without one (unset LOCALSTACK_IMAGE).")
        else:
            hint = (f"Its last log lines are below (all of them: docker compose -p "
                    f"{COMPOSE_PROJECT} logs {SERVICE}). `make local-down` cleans up.")
        return f"{what}. {hint}\n{log.rstrip()}"

    def stop(self) -> None:
        stopped = self._run(compose_command("down", "--volumes", "--remove-orphans"),
                            self.compose_env(), True)
        if stopped.returncode != 0:
            raise LocalStackError(f"`docker compose down` failed (exit {stopped.returncode}): "
                                  f"{stopped.output.strip()}")
