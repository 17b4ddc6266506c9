"""Settings of the pipeline, read from the environment.

The names of every resource are stage environment variables in
``.chalice/config.json``; that file is the one source of truth. Chalice sets
them in the Lambda environment (and while it imports the app for a deploy);
the sandbox scripts and tests read the same file through ``stage_environment``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chalicelib.errors import ConfigurationError

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHALICE_CONFIG = PROJECT_DIR / ".chalice" / "config.json"
DEFAULT_STAGE = "local"
# The largest file one invocation (1,024 MB, 15 minutes, 512 MB of /tmp) processes
# with a 2x margin; /tmp binds first (README "Performance", `make bench SIZE=L`).
DEFAULT_MAX_FILE_BYTES = 96 * 1024 ** 2


@dataclass(frozen=True)
class Settings:
    ingest_bucket: str
    # Reports and offloaded message bodies: a bucket of their own, as every
    # object created in the ingest bucket invokes the handler.
    results_bucket: str
    table_name: str
    output_queue_name: str
    dead_letter_queue_name: str
    # Row items of one file are spread over this many partition keys, so that a
    # large file's writes do not all land on one DynamoDB partition.
    row_shards: int = 8
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # Row chunks expire (DynamoDB TTL) this many days after they are written.
    row_retention_days: int = 30
    # How long a publication's claim holds without being renewed: what a retry
    # of a stopped publisher may wait before it takes the revision over.
    publication_lease_seconds: int = 30
    log_level: str = "INFO"
    stage: str = DEFAULT_STAGE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        missing = [name for name in _REQUIRED if not env.get(name)]
        if missing:
            raise ConfigurationError(
                f"missing environment variable(s) {', '.join(missing)}: set them "
                f"in the stage's environment_variables in {CHALICE_CONFIG}")
        return cls(
            ingest_bucket=env["INGEST_BUCKET"],
            results_bucket=env["RESULTS_BUCKET"],
            table_name=env["TABLE_NAME"],
            output_queue_name=env["OUTPUT_QUEUE_NAME"],
            dead_letter_queue_name=env["DEAD_LETTER_QUEUE_NAME"],
            row_shards=_positive_int(env, "ROW_SHARDS", 8),
            max_file_bytes=_positive_int(env, "MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES),
            row_retention_days=_positive_int(env, "ROW_RETENTION_DAYS", 30),
            publication_lease_seconds=_lease_seconds(env),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            stage=env.get("STAGE") or DEFAULT_STAGE,
        )

    @classmethod
    def for_stage(cls, stage: str = DEFAULT_STAGE,
                  overrides: Mapping[str, str] | None = None) -> Settings:
        """Settings as the stage's function sees them, for tools and tests."""
        env = dict(stage_environment(stage))
        env.update(overrides or {})
        return cls.from_env(env)


_REQUIRED = ("INGEST_BUCKET", "RESULTS_BUCKET", "TABLE_NAME", "OUTPUT_QUEUE_NAME", "DEAD_LETTER_QUEUE_NAME")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"{name} must be a positive whole number, got {raw!r}")
    return value


# A sender renews its lease every quarter of it and stops sending after three quarters
# without a renewal: under 5 s, one throttled renewal (the SDK backs off for seconds)
# ends a live sender's claim, and large batches never finish.
MIN_LEASE_SECONDS = 5


def _lease_seconds(env: Mapping[str, str]) -> int:
    value = _positive_int(env, "PUBLICATION_LEASE_SECONDS", 30)
    if value < MIN_LEASE_SECONDS:
        raise ConfigurationError(
            f"PUBLICATION_LEASE_SECONDS={value} is too short: the sender renews its claim every "
            f"quarter of it, and one throttled renewal would end a live sender's claim; use at "
            f"least {MIN_LEASE_SECONDS} (10 in the sandbox, 30 in AWS)")
    return value


def stage_environment(stage: str = DEFAULT_STAGE, config_path: Path = CHALICE_CONFIG) -> dict[str, str]:
    """The environment variables Chalice gives the function in ``stage``."""
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{config_path} not found: run from the project checkout") from exc
    if stage not in config.get("stages", {}):
        known = ", ".join(sorted(config.get("stages", {})))
        raise ConfigurationError(f"stage {stage!r} is not in {config_path} (stages: {known})")
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


def ingest_bucket_for_app() -> str:
    """The bucket name ``@app.on_s3_event`` subscribes to.

    Decorators run at import time. In Lambda and during ``chalice deploy`` the
    stage's variables are already in the environment; elsewhere (the local event
    runner, tests importing the app) fall back to the stage named by
    ``CHALICE_STAGE``, ``local`` by default.
    """
    bucket = os.environ.get("INGEST_BUCKET")
    if bucket:
        return bucket
    return stage_environment(os.environ.get("CHALICE_STAGE", DEFAULT_STAGE))["INGEST_BUCKET"]
