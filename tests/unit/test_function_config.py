"""The limits the runner invokes a handler under: Chalice's precedence, then RUNNER_* overrides."""
import json

import pytest

from scripts.sandbox.errors import SandboxError
from scripts.sandbox.function_config import function_config
from tests.conftest import PROJECT_DIR


def project(tmp_path, config: dict):
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_this_projects_s3_handler_gets_the_local_stages_settings():
    config = function_config("on_csv_uploaded", "local", PROJECT_DIR, environ={})
    assert (config.timeout_seconds, config.memory_mb, config.concurrency, config.max_attempts) == (
        900, 1024, 10, 3)


def test_the_functions_entry_in_the_stage_wins_over_the_stage_and_the_top_level(tmp_path):
    path = project(tmp_path, {"lambda_timeout": 10, "lambda_memory_size": 256, "stages": {"s": {
        "lambda_timeout": 20, "lambda_functions": {"f": {"lambda_timeout": 30, "reserved_concurrency": 2}},
        "async_invocation": {"maximum_retry_attempts": 0}}}})
    config = function_config("f", "s", path, environ={})
    assert (config.timeout_seconds, config.memory_mb, config.concurrency, config.max_attempts) == (
        30, 256, 2, 1)
    assert function_config("g", "s", path, environ={}).timeout_seconds == 20


def test_runner_settings_override_the_configuration_and_are_checked(tmp_path):
    path = project(tmp_path, {"stages": {"s": {}}})
    config = function_config("f", "s", path, environ={"RUNNER_CONCURRENCY": "3",
                                                      "RUNNER_TIMEOUT_SECONDS": "1.5",
                                                      "RUNNER_MEMORY_MB": "200"})
    assert (config.concurrency, config.timeout_seconds, config.memory_mb) == (3, 1.5, 200)
    with pytest.raises(SandboxError, match="RUNNER_CONCURRENCY must be a positive whole number, got 'ten'"):
        function_config("f", "s", path, environ={"RUNNER_CONCURRENCY": "ten"})
