"""What Lambda would give a function of the stage: timeout, memory, concurrency, attempts.

Read from ``.chalice/config.json`` the way Chalice resolves a function's
settings (the function's entry in the stage, then the stage, then the
function's top-level entry, then the top level), so that the sandbox runs the
handler under the limits ``chalice deploy`` would set. ``RUNNER_CONCURRENCY``,
``RUNNER_TIMEOUT_SECONDS`` and ``RUNNER_MEMORY_MB`` override them for one run
(a test, or sizing the function by trial); ``RUNNER_PROJECT_DIR`` points the
runner at another Chalice project.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.config import PROJECT_DIR
from scripts.sandbox.errors import SandboxError

# Chalice's defaults when the configuration says nothing.
DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_MEMORY_MB = 128
# Without reserved concurrency Lambda scales to the account's limit (1,000 by
# default); a laptop cannot, so an unreserved function gets this many at once.
UNRESERVED_CONCURRENCY = 4
# Lambda's asynchronous invocations: 2 retries unless the stage says otherwise.
DEFAULT_RETRY_ATTEMPTS = 2


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    timeout_seconds: float
    memory_mb: int
    concurrency: int
    max_attempts: int  # the first invocation and its retries
    # The function's environment variables, merged as Chalice merges them.
    environment: Mapping[str, str] = field(default_factory=dict)
    function_name: str = ""  # as deployed: <app>-<stage>-<handler>

    @property
    def handler(self) -> str:
        """Lambda's handler setting, as `chalice deploy` writes it: ``app.<function>``."""
        return f"app.{self.name}"


def project_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("RUNNER_PROJECT_DIR") or PROJECT_DIR).resolve()


def function_config(function: str, stage: str, project: Path | None = None,
                    environ: Mapping[str, str] | None = None) -> FunctionConfig:
    environ = os.environ if environ is None else environ
    project = project or project_dir(environ)
    path = project / ".chalice" / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SandboxError(f"no Chalice configuration at {path}: is {project} a Chalice "
                           f"project (RUNNER_PROJECT_DIR)?") from exc
    stage_config = config.get("stages", {}).get(stage, {})
    # Chalice's order of precedence for a function's settings.
    scopes = [stage_config.get("lambda_functions", {}).get(function, {}), stage_config,
              config.get("lambda_functions", {}).get(function, {}), config]

    def setting(key: str, default):
        for scope in scopes:
            if key in scope:
                return scope[key]
        return default

    retries = stage_config.get("async_invocation", {}).get("maximum_retry_attempts",
                                                           DEFAULT_RETRY_ATTEMPTS)
    # Chalice merges environment variables from the top level, the stage and
    # the stage's function entry, each over the one before.
    environment: dict[str, str] = {}
    for scope in (config, stage_config, scopes[0]):
        environment.update(scope.get("environment_variables", {}))
    return FunctionConfig(
        name=function,
        timeout_seconds=_number(environ, "RUNNER_TIMEOUT_SECONDS", float,
                                setting("lambda_timeout", DEFAULT_TIMEOUT_SECONDS)),
        memory_mb=_number(environ, "RUNNER_MEMORY_MB", int,
                          setting("lambda_memory_size", DEFAULT_MEMORY_MB)),
        concurrency=_number(environ, "RUNNER_CONCURRENCY", int,
                            setting("reserved_concurrency", None) or UNRESERVED_CONCURRENCY),
        max_attempts=1 + int(retries),
        environment=environment,
        function_name=f"{config.get('app_name', project.name)}-{stage}-{function}")


def _number(environ: Mapping[str, str], name: str, kind, default):
    raw = (environ.get(name) or "").strip()
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SandboxError(f"{name} must be a positive {'whole ' if kind is int else ''}number, "
                           f"got {raw!r}")
    return value
