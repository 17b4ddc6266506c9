"""Which faults chaos mode injects, how often, and from which seed.

    CHAOS=all                         every fault at its default rate
    CHAOS=duplicate,late              only these
    CHAOS=kill=0.5,throttle=0.2       these, at these rates (0-1)
    CHAOS=off                         none (the default)

Every decision is drawn from a generator seeded with ``CHAOS_SEED`` and what
the decision is about (the event, the request id and attempt, the n-th call of
an operation), so the same seed injects the same faults into the same uploads.
Only the order in which concurrent threads reach the emulator varies.
Stdlib only: execution environments import it with the function's own packages.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

# name: (default rate, what it does, in the words of `make help` and the README)
FAULTS: dict[str, tuple[float, str]] = {
    "duplicate": (0.3, "an S3 event is delivered again, at once or up to 5 s later (S3 delivers "
                       "at least once)"),
    "late": (0.3, "an S3 event is held back up to 8 s, so that later ones overtake it (S3 keeps no order)"),
    "kill": (0.15, "an environment is killed between two of its AWS calls, and the event retried "
                   "(never on its last attempt)"),
    "throttle": (0.05, "an AWS call of the function is throttled (the SDK backs off and retries)"),
    "error": (0.02, "an AWS call of the function fails with a 500 (the SDK retries)"),
    "lost-answer": (0.02, "a write of the function lands, but its answer is lost (the SDK sends it again)"),
    "partial": (0.2, "a SendMessageBatch or BatchWriteItem does part of its work and reports the "
                     "rest as failed or unprocessed"),
}
OFF = "off"
# What marks the runner log's line of each fault injected (``logging`` names the runner's logger).
FAULT_MARK = " event_runner CHAOS "


class ChaosSpecError(ValueError):
    """CHAOS names a fault that does not exist, or a rate out of 0-1."""


@dataclass(frozen=True)
class Chaos:
    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def parse(cls, spec: str | None, seed: int = 0) -> Chaos:
        spec = (spec or "").strip().lower()
        if spec in ("", OFF, "0", "none"):
            return cls({}, seed)
        rates: dict[str, float] = {}
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            name, _, rate = part.partition("=")
            name = name.strip()
            if name == "all":
                rates.update({fault: default for fault, (default, _) in FAULTS.items()})
                continue
            if name not in FAULTS:
                raise ChaosSpecError(
                    f"CHAOS={spec}: {name!r} is no fault of chaos mode; say all, or some of "
                    f"{', '.join(FAULTS)} (each with =<rate 0-1> if you like), or off")
            try:
                value = float(rate) if rate else FAULTS[name][0]
            except ValueError:
                value = -1.0
            if not 0 <= value <= 1:
                raise ChaosSpecError(f"CHAOS={spec}: the rate of {name} must be a number from "
                                     f"0 to 1, e.g. {name}=0.2")
            rates[name] = value
        return cls(rates, seed)

    @property
    def on(self) -> bool:
        return any(self.rates.values())

    def spec(self) -> str:
        """The CHAOS value that gives these rates."""
        return ",".join(f"{name}={rate:g}" for name, rate in self.rates.items()) or OFF

    def describe(self) -> str:
        if not self.on:
            return "off"
        return (", ".join(f"{name} {rate:.0%}" for name, rate in self.rates.items() if rate)
                + f" (CHAOS_SEED={self.seed})")

    def rate(self, fault: str) -> float:
        return self.rates.get(fault, 0.0)

    def generator(self, *about: object) -> random.Random:
        """A generator for one decision, seeded by the seed and what it is about."""
        return random.Random("/".join(map(str, (self.seed, *about))))

    def happens(self, fault: str, *about: object) -> bool:
        rate = self.rate(fault)
        return bool(rate) and self.generator(fault, *about).random() < rate

    def as_dict(self) -> dict:
        return {"rates": dict(self.rates), "seed": self.seed}

    @classmethod
    def from_dict(cls, data: dict | None) -> Chaos:
        return cls(dict((data or {}).get("rates", {})), int((data or {}).get("seed", 0)))
