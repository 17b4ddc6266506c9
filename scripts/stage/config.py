"""A stage as a deploy sees it, and where a deploy goes.

``load_stage`` reads one stage of .chalice/config.json (its settings, its IAM
policy file, Lambda's asynchronous invocation limits) into a ``Stage``;
``Target`` is the region and endpoint that the environment points clients at.
Both are plain values: the checks that refuse a wrong deploy are in validate.py.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chalicelib.config import CHALICE_CONFIG, Settings, stage_environment
from chalicelib.errors import ConfigurationError

# Stages meant for an emulator (LocalStack); every other stage is an AWS stage.
EMULATOR_STAGES = frozenset({"local"})
# The S3 handler in app.py; Chalice names its function <app>-<stage>-<handler>.
S3_HANDLER = "on_csv_uploaded"
ENDPOINT_VARIABLES_PREFIX = "AWS_ENDPOINT_URL"
# Lambda's own bounds for asynchronous invocation settings.
MAX_RETRY_ATTEMPTS = range(0, 3)
EVENT_AGE_SECONDS = range(60, 21601)


@dataclass(frozen=True)
class Stage:
    """What a deploy of one stage needs from .chalice/config.json."""

    name: str
    app_name: str
    settings: Settings
    policy_path: Path
    policy: dict
    autogen_policy: bool
    xray: bool
    max_retry_attempts: int
    max_event_age_seconds: int

    @property
    def event_function(self) -> str:
        return f"{self.app_name}-{self.name}-{S3_HANDLER}"

    @property
    def api_function(self) -> str:
        return f"{self.app_name}-{self.name}"  # Chalice's name for the routes' function

    def table_arn(self, region: str, account: str) -> str:
        return f"arn:aws:dynamodb:{region}:{account}:table/{self.settings.table_name}"

    def sqs_arn(self, name: str, region: str, account: str) -> str:
        return f"arn:aws:sqs:{region}:{account}:{name}"

    def log_group_arn(self, function: str, region: str, account: str) -> str:
        return f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}"


def load_stage(name: str, config_path: Path = CHALICE_CONFIG) -> Stage:
    # stage_environment also says which stages exist when `name` is not one.
    settings = Settings.from_env(stage_environment(name, config_path))
    config = json.loads(config_path.read_text(encoding="utf-8"))
    stage = config["stages"][name]
    policy_path = config_path.parent / stage.get("iam_policy_file",
                                                 config.get("iam_policy_file", f"policy-{name}.json"))
    try:
        policy = json.loads(policy_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{policy_path} not found: the IAM policy of stage {name!r} "
                                 f"(autogen_policy is false, so Chalice needs it)") from exc
    invocation = stage.get("async_invocation", {})
    return Stage(
        name=name, app_name=config["app_name"], settings=settings,
        policy_path=policy_path, policy=policy,
        autogen_policy=stage.get("autogen_policy", config.get("autogen_policy", True)),
        xray=bool(stage.get("xray", config.get("xray", False))),
        max_retry_attempts=_bounded(invocation, "maximum_retry_attempts", MAX_RETRY_ATTEMPTS, name,
                                    config_path),
        max_event_age_seconds=_bounded(invocation, "maximum_event_age_seconds", EVENT_AGE_SECONDS,
                                       name, config_path))


def _bounded(section: Mapping, key: str, allowed: range, stage: str, path: Path) -> int:
    value = section.get(key)
    if not isinstance(value, int) or value not in allowed:
        raise ConfigurationError(
            f"async_invocation.{key} of stage {stage!r} in {path} must be a whole number from "
            f"{allowed.start} to {allowed.stop - 1} (Lambda's limits), got {value!r}")
    return value


@dataclass(frozen=True)
class Target:
    """Where a deploy goes: a region, and an emulator's endpoint if one is set."""

    region: str
    endpoint: str  # "" for AWS itself; else the emulator's URL

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Target:
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or ""
        endpoints = sorted(f"{name}={value}" for name, value in environ.items()
                           if name.startswith(ENDPOINT_VARIABLES_PREFIX) and value)
        return cls(region=region, endpoint=", ".join(endpoints))

    def describe(self) -> str:
        return f"the endpoint {self.endpoint}" if self.endpoint else f"AWS, region {self.region}"
