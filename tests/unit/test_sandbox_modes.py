"""Which sandbox `make local-up` starts, from SANDBOX, Docker and AWS_ENDPOINT_URL."""
from __future__ import annotations

import pytest

from scripts.sandbox.errors import SandboxError
from scripts.sandbox.modes import choose_mode


def docker(answers: bool):
    calls = []

    def ask() -> bool:
        calls.append(1)
        return answers
    ask.calls = calls
    return ask


@pytest.mark.parametrize("answers, mode", [(True, "localstack"), (False, "embedded")])
def test_auto_takes_localstack_exactly_when_docker_answers(answers, mode):
    chosen, note = choose_mode("auto", docker(answers), {})

    assert chosen == mode
    assert ("SANDBOX=embedded" in note) == answers  # says how to opt out when it picks Docker


def test_an_empty_sandbox_variable_means_auto():
    assert choose_mode("", docker(False), {}) == ("embedded", "")
    assert choose_mode(" Auto ", docker(True), {})[0] == "localstack"


def test_embedded_never_asks_docker():
    ask = docker(True)

    assert choose_mode("embedded", ask, {}) == ("embedded", "")
    assert ask.calls == []


def test_localstack_without_docker_says_how_to_start_it_or_what_else_to_use():
    with pytest.raises(SandboxError) as caught:
        choose_mode("localstack", docker(False), {})

    message = str(caught.value)
    assert "needs a running Docker engine" in message
    assert "systemctl start docker" in message and "SANDBOX=embedded" in message


def test_localstack_with_docker():
    assert choose_mode("localstack", docker(True), {}) == ("localstack", "")


def test_external_uses_the_endpoint_and_never_asks_docker():
    ask = docker(True)

    assert choose_mode("external", ask, {"AWS_ENDPOINT_URL": "http://localhost:4566"}) == ("external", "")
    assert ask.calls == []


@pytest.mark.parametrize("environ", [{}, {"AWS_ENDPOINT_URL": ""}])
def test_external_without_an_endpoint_says_how_to_give_one(environ):
    with pytest.raises(SandboxError) as caught:
        choose_mode("external", docker(False), environ)

    assert "AWS_ENDPOINT_URL is not set" in str(caught.value)
    assert "AWS_ENDPOINT_URL=http://localhost:4566 SANDBOX=external make local-up" in str(caught.value)


def test_an_unknown_mode_lists_the_known_ones():
    with pytest.raises(SandboxError) as caught:
        choose_mode("docker", docker(True), {})

    assert str(caught.value) == "SANDBOX='docker' is not one of auto, embedded, localstack, external"
