"""Which emulator the sandbox runs: SANDBOX=auto|embedded|localstack|external."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping

from scripts.sandbox.errors import SandboxError

MODES = ("auto", "embedded", "localstack", "external")


def requested_mode(requested: str) -> str:
    """``SANDBOX`` as one of MODES, or SandboxError saying what it may be."""
    requested = (requested or "auto").strip().lower()
    if requested not in MODES:
        raise SandboxError(f"SANDBOX={requested!r} is not one of {', '.join(MODES)}")
    return requested


def choose_mode(requested: str, docker_answers: Callable[[], bool],
                environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The mode to run and a note for the user (empty when there is nothing to say)."""
    environ = os.environ if environ is None else environ
    requested = requested_mode(requested)
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

