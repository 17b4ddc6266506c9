"""The bench's clients of its private emulator: the one place the bench builds boto3 clients.

``chalicelib.aws`` takes the endpoint from the environment, which is right for
the handler: Lambda sets it, and the bench's workers get their emulator's
endpoint in the environment they are started with. The bench's own process is
different: it talks to an emulator of its own, on a port it chose, while the
shell it runs in may point ``AWS_ENDPOINT_URL`` at the sandbox or hold real
credentials. Rather than rewrite its own environment (which every module it
imports would then see), it builds its clients here with the endpoint, region
and dummy credentials given explicitly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from scripts.sandbox.state import client_env

# Standard retry mode rides out the emulator's moments of load (three readers
# and a worker on it at once); the timeouts leave room for its slow calls.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


@dataclass(frozen=True)
class EmulatorClients:
    s3: Any
    sqs: Any
    dynamodb: Any


def emulator_clients(endpoint: str) -> EmulatorClients:
    """Clients of the emulator at ``endpoint``, with the sandbox's dummy credentials."""
    env = client_env(endpoint)
    session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                    region_name=env["AWS_DEFAULT_REGION"])

    def client(service: str):
        return session.client(service, endpoint_url=endpoint, config=_CONFIG)

    return EmulatorClients(s3=client("s3"), sqs=client("sqs"), dynamodb=client("dynamodb"))
