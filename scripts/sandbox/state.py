"""Where the sandbox keeps its state (.sandbox/), and what a client needs to reach it."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from chalicelib import aws
from chalicelib.config import PROJECT_DIR
from scripts.sandbox.errors import SandboxError

HOST = "127.0.0.1"
# Where the bucket's S3 events go.
TO_RUNNER, TO_FUNCTION = "runner", "function"
# The event runner's module: what its command line holds (processes.pid_alive).
RUNNER_MODULE = "scripts.sandbox.runner"


def sandbox_dir() -> Path:
    return Path(os.environ.get("SANDBOX_DIR") or PROJECT_DIR / ".sandbox")


@contextlib.contextmanager
def changing_state() -> Iterator[None]:
    """The sandbox's lock, held while a command reads, acts on and rewrites its state:
    `make local-up`, `make local-run`, `make local-down` and `make local-deliver` run one
    at a time, so that none acts on a state another is changing (two runners, a lost pid)."""
    sandbox_dir().mkdir(parents=True, exist_ok=True)
    with open(sandbox_dir() / "state.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sandbox_port() -> int:
    raw = os.environ.get("SANDBOX_PORT") or "4566"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SandboxError(f"SANDBOX_PORT must be a TCP port number, got {raw!r}")
    return int(raw)



@dataclass
class State:
    mode: str
    stage: str
    endpoint: str
    port: int
    emulator_pid: int
    runner_pid: int
    started_at: str
    ingest_bucket: str
    table_name: str
    output_queue_url: str
    dead_letter_queue_url: str
    events_queue_url: str
    delivery: str = TO_RUNNER
    results_bucket: str = ""
    chaos: str = "off"  # CHAOS of the runner (scripts/sandbox/chaos), and its seed
    chaos_seed: int = 0

    @property
    def manages_emulator(self) -> bool:
        """Whether this sandbox started its emulator process itself (and stops it)."""
        return self.mode == "embedded"

    def client(self, service: str):
        """A client of this sandbox's emulator (see ``emulator_client``)."""
        return emulator_client(service, self.endpoint)

    @property
    def client_env(self) -> dict[str, str]:
        """What a client (boto3, awslocal, the runner) needs to reach this sandbox."""
        return client_env(self.endpoint)

    def env_lines(self) -> dict[str, str]:
        return {**self.client_env,
                "INGEST_BUCKET": self.ingest_bucket, "RESULTS_BUCKET": self.results_bucket,
                "TABLE_NAME": self.table_name,
                "OUTPUT_QUEUE_URL": self.output_queue_url,
                "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue_url}


DUMMY_CREDENTIALS = ("test", "test")  # real ones must never be sent to an emulator


def emulator_client(service: str, endpoint: str):
    """A client of the emulator at ``endpoint``, with dummy credentials: what a sandbox tool
    uses, rather than rewriting its own environment for boto3 to read."""
    return aws.client(service, endpoint=endpoint, region=client_env(endpoint)["AWS_DEFAULT_REGION"],
                      credentials=DUMMY_CREDENTIALS)


def client_env(endpoint: str) -> dict[str, str]:
    # Dummy credentials on purpose: real ones must never be sent to an emulator.
    return {"AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS[0], "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS[1],
            "DISABLE_DEPRECATION_NOTICE": "1"}


def state_path() -> Path:
    return sandbox_dir() / "state.json"


def load_state() -> State | None:
    try:
        return State(**json.loads(state_path().read_text()))
    except FileNotFoundError:
        return None


def save_state(state: State) -> None:
    # Whole or not at all: runners read it while a command rewrites it.
    written = state_path().with_suffix(".tmp")
    written.write_text(json.dumps(asdict(state), indent=2))
    written.replace(state_path())

