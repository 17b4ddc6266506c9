"""config: settings from the environment, and errors that name the variable to fix."""
from __future__ import annotations

import json

import pytest

from chalicelib.config import CHALICE_CONFIG, Settings, stage_environment
from chalicelib.errors import ConfigurationError

REQUIRED = {"INGEST_BUCKET": "bucket", "RESULTS_BUCKET": "results", "TABLE_NAME": "table",
            "OUTPUT_QUEUE_NAME": "out", "DEAD_LETTER_QUEUE_NAME": "dlq"}


def test_only_the_names_given_the_rest_defaults():
    assert Settings.from_env(REQUIRED) == Settings(
        ingest_bucket="bucket", results_bucket="results", table_name="table", output_queue_name="out",
        dead_letter_queue_name="dlq", row_shards=8, max_file_bytes=96 * 1024 ** 2, log_level="INFO",
        stage="local")


def test_every_variable_is_read():
    env = {**REQUIRED, "ROW_SHARDS": "3", "MAX_FILE_BYTES": "1000", "LOG_LEVEL": "debug", "STAGE": "prod"}

    settings = Settings.from_env(env)

    assert (settings.row_shards, settings.max_file_bytes, settings.log_level, settings.stage) == \
        (3, 1000, "DEBUG", "prod")


@pytest.mark.parametrize("name", ["ROW_SHARDS", "MAX_FILE_BYTES", "STAGE"])
def test_an_empty_optional_variable_means_its_default(name):
    defaults = Settings.from_env(REQUIRED)

    assert Settings.from_env({**REQUIRED, name: ""}) == defaults


def test_reads_os_environ_when_no_mapping_is_given(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ROW_SHARDS", "5")

    assert Settings.from_env().row_shards == 5


@pytest.mark.parametrize("missing", [["TABLE_NAME"], ["INGEST_BUCKET", "DEAD_LETTER_QUEUE_NAME"]])
def test_missing_names_are_listed_with_where_to_set_them(missing):
    env = {name: value for name, value in REQUIRED.items() if name not in missing}

    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)

    assert str(caught.value) == (f"missing environment variable(s) {', '.join(missing)}: set them in the "
                                 f"stage's environment_variables in {CHALICE_CONFIG}")


def test_an_empty_required_name_counts_as_missing():
    with pytest.raises(ConfigurationError, match=r"missing environment variable\(s\) TABLE_NAME:"):
        Settings.from_env({**REQUIRED, "TABLE_NAME": ""})


@pytest.mark.parametrize("name", ["ROW_SHARDS", "MAX_FILE_BYTES"])
@pytest.mark.parametrize("raw", ["abc", "0", "-1", "-8", "2.5", "8 shards", "1e3"])
def test_a_count_that_is_not_a_positive_whole_number_names_the_variable(name, raw):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**REQUIRED, name: raw})

    assert str(caught.value) == f"{name} must be a positive whole number, got {raw!r}"


def test_for_stage_reads_the_chalice_config():
    declared = json.loads(CHALICE_CONFIG.read_text())["stages"]["local"]["environment_variables"]

    settings = Settings.for_stage("local")

    assert settings.ingest_bucket == declared["INGEST_BUCKET"]
    assert settings.table_name == declared["TABLE_NAME"]
    assert settings.output_queue_name == declared["OUTPUT_QUEUE_NAME"]
    assert settings.dead_letter_queue_name == declared["DEAD_LETTER_QUEUE_NAME"]
    assert settings.row_shards == int(declared["ROW_SHARDS"])
    assert settings.max_file_bytes == int(declared["MAX_FILE_BYTES"])
    assert settings.stage == "local"


def test_for_stage_overrides_win_and_are_validated():
    assert Settings.for_stage("local", {"ROW_SHARDS": "2"}).row_shards == 2
    with pytest.raises(ConfigurationError, match="^ROW_SHARDS must be a positive whole number, got '0'$"):
        Settings.for_stage("local", {"ROW_SHARDS": "0"})


def test_for_stage_ignores_the_process_environment(monkeypatch):
    # Tools and tests must see the stage as its function does, not the shell's leftovers.
    monkeypatch.setenv("TABLE_NAME", "from-the-shell")

    assert Settings.for_stage("local").table_name != "from-the-shell"


def test_an_unknown_stage_lists_the_known_ones():
    with pytest.raises(ConfigurationError) as caught:
        Settings.for_stage("prod")

    assert str(caught.value) == f"stage 'prod' is not in {CHALICE_CONFIG} (stages: dev, local)"


def test_a_missing_config_file_says_to_run_from_the_checkout(tmp_path):
    missing = tmp_path / "nowhere.json"  # never created

    with pytest.raises(ConfigurationError, match="not found: run from the project checkout"):
        stage_environment("local", missing)


def test_row_retention_days_is_thirty_unless_set_and_must_be_positive():
    assert Settings.from_env(REQUIRED).row_retention_days == 30
    assert Settings.from_env({**REQUIRED, "ROW_RETENTION_DAYS": "7"}).row_retention_days == 7
    with pytest.raises(ConfigurationError,
                       match="^ROW_RETENTION_DAYS must be a positive whole number, got '0'$"):
        Settings.from_env({**REQUIRED, "ROW_RETENTION_DAYS": "0"})


@pytest.mark.parametrize("seconds, accepted", [("2", False), ("4", False), ("5", True), ("30", True)])
def test_a_publication_lease_too_short_to_survive_a_throttled_renewal_is_refused(seconds, accepted):
    env = {**REQUIRED, "PUBLICATION_LEASE_SECONDS": seconds}
    if accepted:
        assert Settings.from_env(env).publication_lease_seconds == int(seconds)
        return
    with pytest.raises(ConfigurationError, match=rf"PUBLICATION_LEASE_SECONDS={seconds} is too short.*"
                                                 r"at least 5"):
        Settings.from_env(env)
