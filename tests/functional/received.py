"""Messages as a consumer receives them, and the check that each arrives once."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.messages import from_json


@dataclass(frozen=True)
class Received:
    """One message as a consumer receives it: raw body text and attributes."""

    body: str
    attributes: tuple  # ((name, value), ...) sorted
    key: str           # the idempotency_key attribute

    @property
    def parsed(self) -> dict:
        return from_json(self.body)


def by_idempotency_key(received: list[Received], repeats_allowed: bool) -> dict[str, Received]:
    """The distinct messages by idempotency key.

    Without ``repeats_allowed`` every key arrives once. With it (a failure
    between sending and marking published, README Guarantee 3) a key may
    arrive again, but only as a byte-identical copy, attributes included, so a
    consumer dropping seen keys loses nothing and sees nothing different.
    """
    by_key: dict[str, Received] = {}
    for message in received:
        if message.key in by_key:
            assert repeats_allowed, f"{message.key} published twice without a failure"
            assert message == by_key[message.key], f"a repeat of {message.key} differs"
        by_key[message.key] = message
    return by_key
