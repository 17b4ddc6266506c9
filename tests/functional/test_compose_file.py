"""docker-compose.yml: what the LocalStack sandbox relies on, checked without Docker."""
from __future__ import annotations

import yaml

from scripts.sandbox.localstack import COMPOSE_FILE, HEALTH_PATH, REQUIRED_SERVICES, SERVICE

PINNED_IMAGE = "localstack/localstack:4.14.0"


def localstack_service() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"][SERVICE]


def environment() -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in localstack_service()["environment"])


def test_the_image_is_pinned_and_overridable():
    assert localstack_service()["image"] == "${LOCALSTACK_IMAGE:-" + PINNED_IMAGE + "}"


def test_the_port_is_bound_to_loopback_only():
    assert localstack_service()["ports"] == ["127.0.0.1:${SANDBOX_PORT:-4566}:4566"]


def test_the_auth_token_is_passed_through_when_set():
    assert environment()["LOCALSTACK_AUTH_TOKEN"] == "${LOCALSTACK_AUTH_TOKEN:-}"


def test_every_service_the_sandbox_waits_for_is_enabled():
    assert set(environment()["SERVICES"].split(",")) == set(REQUIRED_SERVICES)


def test_the_docker_socket_is_mounted_so_lambda_functions_can_run():
    assert "/var/run/docker.sock:/var/run/docker.sock" in localstack_service()["volumes"]


def test_state_lives_under_the_sandbox_folder():
    assert "${SANDBOX_DIR:-./.sandbox}/localstack:/var/lib/localstack" in localstack_service()["volumes"]


def test_the_healthcheck_asks_localstacks_health_endpoint():
    check = localstack_service()["healthcheck"]
    assert check["test"][:2] == ["CMD", "curl"]
    assert check["test"][-1] == f"http://localhost:4566{HEALTH_PATH}"
    assert check["retries"] * int(check["interval"].rstrip("s")) >= 60
