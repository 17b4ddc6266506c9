"""The IAM policy matcher (scripts/stage/policy.py) follows IAM's wildcard rules."""
from __future__ import annotations

import pytest

from chalicelib.errors import ConfigurationError
from scripts.stage.policy import (
    action_matches,
    allows,
    policy_statements,
    regions_named,
    resource_matches,
    wildcard_problems,
)


@pytest.mark.parametrize("pattern, action, expected", [
    ("s3:GetObject", "s3:GetObject", True),
    ("s3:getobject", "s3:GetObject", True),          # actions are case-insensitive
    ("s3:Get*", "s3:GetObject", True),
    ("s3:Get*", "s3:PutObject", False),
    ("*", "dynamodb:Query", True),
    ("sqs:SendMessag?", "sqs:SendMessage", True),
    ("sqs:SendMessage", "sqs:SendMessageBatch", False),  # no prefix match
    ("s3:GetObject", "s3:GetObjectAcl", False),
])
def test_action_matching(pattern, action, expected):
    assert action_matches(pattern, action) is expected


@pytest.mark.parametrize("pattern, arn, expected", [
    ("arn:aws:s3:::b/reports/*", "arn:aws:s3:::b/reports/1/x.csv.json", True),
    ("arn:aws:s3:::b/reports/*", "arn:aws:s3:::b/payloads/1.json", False),
    ("arn:aws:s3:::b/reports/*", "arn:aws:s3:::B/reports/x", False),     # resources are case-sensitive
    ("arn:aws:s3:::b/*.csv", "arn:aws:s3:::b/in/orders_1.csv", True),
    ("arn:aws:s3:::b/*.csv", "arn:aws:s3:::b/reports/orders_1.csv.json", False),
    ("arn:aws:s3:::b", "arn:aws:s3:::b/x", False),                    # bucket is not its objects
    ("arn:aws:s3:::b", "arn:aws:s3:::bb", False),
    ("arn:aws:dynamodb:us-east-1:*:table/t", "arn:aws:dynamodb:us-east-1:123456789012:table/t", True),
    ("arn:aws:dynamodb:us-east-1:*:table/t", "arn:aws:dynamodb:eu-west-1:123456789012:table/t", False),
    ("arn:aws:dynamodb:us-east-1:*:table/t", "arn:aws:dynamodb:us-east-1:1:table/t/index/i", False),
    ("arn:aws:sqs:us-east-1:*:out", "arn:aws:sqs:us-east-1:123456789012:out-dead", False),
    ("arn:aws:sqs:us-east-1:12345678901?:out", "arn:aws:sqs:us-east-1:123456789012:out", True),
    # A "*" that ends a segment runs on past colons; one inside a segment does not.
    ("arn:aws:logs:r:*:log-group:/aws/lambda/f:*",
     "arn:aws:logs:r:1:log-group:/aws/lambda/f:log-stream:s", True),
    ("arn:aws:logs:r:*:log-group:/aws/lambda/f:*",
     "arn:aws:logs:r:1:log-group:/aws/lambda/f-other:log-stream:s", False),
    ("arn:aws:logs:r:*:log-group:/aws/*/f", "arn:aws:logs:r:1:log-group:/aws/x:y/f", False),
    ("*", "arn:aws:s3:::anything/at/all", True),
])
def test_resource_matching(pattern, arn, expected):
    assert resource_matches(pattern, arn) is expected


POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Reports", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
     "Resource": "arn:aws:s3:::b/reports/*"},
    {"Sid": "Table", "Effect": "Allow", "Action": "dynamodb:Query",
     "Resource": ["arn:aws:dynamodb:eu-west-1:*:table/t"]},
]}


def test_a_grant_needs_action_and_resource_in_the_same_statement():
    assert allows(POLICY, "s3:DeleteObject", "arn:aws:s3:::b/reports/x.json")
    assert not allows(POLICY, "dynamodb:Query", "arn:aws:s3:::b/reports/x.json")
    assert not allows(POLICY, "s3:GetObject", "arn:aws:s3:::b/reports/x.json")


def test_a_single_statement_and_string_values_are_read_as_lists():
    single = {"Statement": {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:q"}}

    assert policy_statements(single) == [{"Sid": "0", "Action": ["sqs:SendMessage"],
                                          "Resource": ["arn:q"]}]


@pytest.mark.parametrize("statement, named", [
    ({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}, "Effect 'Deny'"),
    ({"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}, "NotAction"),
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
      "Condition": {"Bool": {"aws:SecureTransport": "true"}}}, "Condition"),
])
def test_elements_the_matcher_cannot_evaluate_are_refused_not_ignored(statement, named):
    with pytest.raises(ConfigurationError, match=named):
        allows({"Statement": [statement]}, "s3:GetObject", "arn:aws:s3:::b/k")


def test_wildcard_actions_and_resource_star_are_problems_except_xray_puts():
    policy = {"Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
        {"Sid": "B", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"},
        {"Sid": "C", "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
         "Resource": "*"},
        {"Sid": "D", "Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"},
    ]}

    assert wildcard_problems(policy) == [
        "statement 'A': wildcard action 's3:*'",
        "statement 'B': Resource \"*\" for sqs:SendMessage (only X-Ray's put calls need it)",
        "statement 'D': wildcard action '*'",
    ]
    assert wildcard_problems(POLICY) == []


def test_regions_are_read_from_regional_arns_only():
    assert regions_named(POLICY) == {"eu-west-1"}
