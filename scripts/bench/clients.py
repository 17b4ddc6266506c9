"""The bench's clients of its private emulator.

The bench's process talks to an emulator of its own, on a port it chose, while
the shell it runs in may point ``AWS_ENDPOINT_URL`` at the sandbox or hold real
credentials: its clients name the endpoint and take dummy credentials
(``scripts.sandbox.state.emulator_client``), rather than rewriting its own
environment, which every module it imports would then see. Its workers get
their emulator's endpoint in the environment they start with, as Lambda gives it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scripts.sandbox.state import emulator_client


@dataclass(frozen=True)
class EmulatorClients:
    s3: Any
    sqs: Any
    dynamodb: Any


def emulator_clients(endpoint: str) -> EmulatorClients:
    """Clients of the emulator at ``endpoint``, with the sandbox's dummy credentials."""
    return EmulatorClients(s3=emulator_client("s3", endpoint), sqs=emulator_client("sqs", endpoint),
                           dynamodb=emulator_client("dynamodb", endpoint))
