"""The small IAM policy matcher that the deploy checks and the least-privilege test share.

Only what this project's policy files use: Allow statements with Action and
Resource. Anything else (Deny, NotAction, Condition...) is refused, not
half-evaluated. Pure functions over a policy document; no AWS call.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from chalicelib.errors import ConfigurationError

_SUPPORTED_KEYS = {"Sid", "Effect", "Action", "Resource"}
# X-Ray's put calls have no resource-level permissions: AWS requires "*".
RESOURCE_STAR_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})


def policy_statements(policy: Mapping) -> list[dict]:
    """The policy's statements, with Action and Resource always lists."""
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    normalised = []
    for index, statement in enumerate(statements):
        unsupported = set(statement) - _SUPPORTED_KEYS
        if unsupported or statement.get("Effect") != "Allow":
            raise ConfigurationError(
                f"statement {statement.get('Sid', index)!r} uses "
                f"{', '.join(sorted(unsupported)) or 'Effect ' + repr(statement.get('Effect'))}, "
                f"which this project's policy matcher does not evaluate: use Allow statements "
                f"with Action and Resource only")
        normalised.append({"Sid": statement.get("Sid", str(index)),
                           "Action": _as_list(statement.get("Action", [])),
                           "Resource": _as_list(statement.get("Resource", []))})
    return normalised


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` any characters, `?` one."""
    return re.fullmatch(_glob(pattern, segment_bound=False), action, re.IGNORECASE) is not None


def resource_matches(pattern: str, arn: str) -> bool:
    """IAM resource matching: case-sensitive; `*` and `?` stay within one
    colon-separated segment, except a `*` that ends a segment, which may run on
    past colons (IAM's rule: `log-group:name:*` covers its log streams)."""
    return re.fullmatch(_glob(pattern, segment_bound=True), arn) is not None


def _glob(pattern: str, segment_bound: bool) -> str:
    parts = []
    for index, char in enumerate(pattern):
        if char == "*":
            ends_segment = index + 1 == len(pattern) or pattern[index + 1] == ":"
            parts.append("[^:]*" if segment_bound and not ends_segment else ".*")
        elif char == "?":
            parts.append("[^:]" if segment_bound else ".")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


def allows(policy: Mapping, action: str, arn: str) -> bool:
    """Whether an Allow statement of ``policy`` grants ``action`` on ``arn``."""
    return any(any(action_matches(a, action) for a in statement["Action"])
               and any(resource_matches(r, arn) for r in statement["Resource"])
               for statement in policy_statements(policy))


def wildcard_problems(policy: Mapping) -> list[str]:
    """Grants broader than least privilege: wildcard actions, or Resource "*"
    beside anything but X-Ray's put calls."""
    problems = []
    for statement in policy_statements(policy):
        for action in statement["Action"]:
            if "*" in action or "?" in action:
                problems.append(f"statement {statement['Sid']!r}: wildcard action {action!r}")
        if "*" in statement["Resource"]:
            others = sorted(set(statement["Action"]) - RESOURCE_STAR_ACTIONS)
            if others:
                problems.append(f"statement {statement['Sid']!r}: Resource \"*\" for "
                                f"{', '.join(others)} (only X-Ray's put calls need it)")
    return problems


def regions_named(policy: Mapping) -> set[str]:
    """The regions written in the policy's regional ARNs."""
    regions = set()
    for statement in policy_statements(policy):
        for resource in statement["Resource"]:
            fields = resource.split(":")
            if len(fields) > 3 and fields[3]:
                regions.add(fields[3])
    return regions
