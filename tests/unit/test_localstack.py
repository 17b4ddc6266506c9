"""Starting and stopping LocalStack: the commands run and the health wait, without Docker.

A recording command runner stands in for `docker compose`; the health document
is LocalStack's /_localstack/health shape.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from scripts.sandbox.localstack import (
    COMPOSE_FILE,
    COMPOSE_PROJECT,
    REQUIRED_SERVICES,
    CommandResult,
    LocalStack,
    LocalStackError,
    not_ready,
)

HEALTHY = {"services": {**dict.fromkeys(REQUIRED_SERVICES, "available"), "s3": "running",
                        "kinesis": "disabled"}}


class Docker:
    """Answers `docker compose` commands as a scripted engine would, recording them."""

    def __init__(self, up_code=0, running=True, logs="Ready.\n"):
        self.commands: list[tuple[list[str], dict]] = []
        self.up_code, self.running, self.log_text = up_code, running, logs

    def __call__(self, argv, env, capture):
        argv = list(argv)
        self.commands.append((argv, dict(env)))
        verb = argv[argv.index("-p") + 2]
        if verb == "up":
            return CommandResult(self.up_code, "")
        if verb == "ps":
            return CommandResult(0, "3f2a1b\n" if self.running else "")
        if verb == "logs":
            return CommandResult(0, self.log_text)
        return CommandResult(0, "")

    def verbs(self):
        return [argv[argv.index("-p") + 2] for argv, _ in self.commands]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def localstack(tmp_path: Path, docker: Docker, health_answers, environ=None) -> tuple[LocalStack, Clock]:
    answers = iter(health_answers)
    last = [None]

    def health(endpoint):
        assert endpoint == "http://127.0.0.1:4599"
        last[0] = next(answers, last[0])
        return last[0]
    clock = Clock()
    return LocalStack(4599, tmp_path / "sandbox", environ or {"PATH": "/usr/bin"}, run=docker,
                      health=health, sleep=clock.sleep, clock=clock), clock


def test_start_runs_compose_up_with_the_port_and_state_folder_then_waits_for_health(tmp_path):
    docker = Docker()
    stack, clock = localstack(tmp_path, docker, [None, {"services": {"s3": "initializing"}}, HEALTHY],
                              environ={"LOCALSTACK_IMAGE": "localstack/localstack:4.14.0",
                                       "LOCALSTACK_AUTH_TOKEN": "ls-token"})

    stack.start()

    argv, env = docker.commands[0]
    assert argv == ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", COMPOSE_PROJECT, "up", "--detach"]
    assert env["SANDBOX_PORT"] == "4599"
    assert env["SANDBOX_DIR"] == str((tmp_path / "sandbox").resolve())
    assert env["LOCALSTACK_AUTH_TOKEN"] == "ls-token"  # passed through to compose
    assert env["LOCALSTACK_IMAGE"] == "localstack/localstack:4.14.0"
    assert (tmp_path / "sandbox" / "localstack").is_dir()
    assert docker.verbs() == ["up", "ps", "ps"]  # checked it still runs while it was not ready
    assert clock.now == 4


def test_a_failed_compose_up_says_what_to_check(tmp_path):
    stack, _ = localstack(tmp_path, Docker(up_code=1), [HEALTHY])

    with pytest.raises(LocalStackError) as caught:
        stack.start()

    assert "failed (exit 1" in str(caught.value)
    assert "docker compose version" in str(caught.value) and "SANDBOX=embedded" in str(caught.value)


def test_the_time_out_names_the_services_still_missing_and_shows_the_log(tmp_path):
    docker = Docker(logs="LocalStack version: 4.14.0\nstarting dynamodb\n")
    stuck = {"services": {**HEALTHY["services"], "dynamodb": "initializing"}}
    del stuck["services"]["apigateway"]
    stack, clock = localstack(tmp_path, docker, [stuck])

    with pytest.raises(LocalStackError) as caught:
        stack.start(timeout=30)

    message = str(caught.value)
    assert "did not become healthy at http://127.0.0.1:4599/_localstack/health within 30 s" in message
    assert "still waiting for: dynamodb (initializing), apigateway (missing)" in message
    assert "starting dynamodb" in message and "make local-down" in message
    assert clock.now >= 30


@pytest.mark.parametrize("log", [
    "ERROR: No auth token found. Set LOCALSTACK_AUTH_TOKEN to activate LocalStack\n",
    "License activation failed! Reason: no credentials\n",
])
def test_an_image_that_wants_an_auth_token_gets_the_hint(tmp_path, log):
    stack, _ = localstack(tmp_path, Docker(running=False, logs=log), [None])

    with pytest.raises(LocalStackError) as caught:
        stack.start()

    message = str(caught.value)
    assert message.startswith("the LocalStack container stopped while starting")
    assert "set LOCALSTACK_AUTH_TOKEN" in message and "unset LOCALSTACK_IMAGE" in message


def test_a_container_that_exits_fails_at_once_not_after_the_time_out(tmp_path):
    stack, clock = localstack(tmp_path, Docker(running=False, logs="Traceback: port in use\n"), [None])

    with pytest.raises(LocalStackError) as caught:
        stack.start(timeout=180)

    assert clock.now == 0
    assert "Traceback: port in use" in str(caught.value)
    assert "auth token" not in str(caught.value)


def test_stop_runs_compose_down_in_the_same_project(tmp_path):
    docker = Docker()
    stack, _ = localstack(tmp_path, docker, [])

    stack.stop()

    argv, env = docker.commands[0]
    assert argv[:6] == ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", COMPOSE_PROJECT]
    assert argv[6:] == ["down", "--volumes", "--remove-orphans"]
    assert env["SANDBOX_PORT"] == "4599"


def test_not_ready_accepts_available_and_running_only():
    assert not_ready(HEALTHY) == []
    assert not_ready(None) == [f"{name} (missing)" for name in REQUIRED_SERVICES]
    assert not_ready({"services": {**HEALTHY["services"], "lambda": "error"}}) == ["lambda (error)"]
