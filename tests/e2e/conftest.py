"""End-to-end tier: the sandbox as a user starts it, on a port and folder the test owns."""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chalicelib import aws
from chalicelib.messages import from_json
from chalicelib.payloads import parse_pointer
from tests.conftest import PROJECT_DIR

VENV_BIN = Path(sys.executable).parent


# Ports for the tests' emulators and servers come from below the kernel's ephemeral
# range (32768 and up on Linux), where no client connection is ever given one: a port
# the kernel picks (bind to 0) may be handed to a boto3 connection before the server
# that was meant for it binds it. Each pytest-xdist worker has a block of its own, and
# a start within it that depends on the process, so that two runs side by side seldom
# try the same port; a port that is taken is skipped.
_PORT_BASE, _PORT_BLOCK, _PORT_BLOCKS = 20000, 1000, 12  # 20000 to 31999
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_BLOCK_START = _PORT_BASE + (int(_WORKER[2:]) if _WORKER[2:].isdigit() else 0) % _PORT_BLOCKS * _PORT_BLOCK
_port_offsets = itertools.count(os.getpid())


def free_port() -> int:
    """A port nothing listens on, for one server a test starts."""
    for _ in range(_PORT_BLOCK):
        port = _BLOCK_START + next(_port_offsets) % _PORT_BLOCK
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_BLOCK_START}..{_BLOCK_START + _PORT_BLOCK - 1}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RunningSandbox:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.base_env = {**os.environ, "SANDBOX": "embedded", "SANDBOX_PORT": str(port),
                         "SANDBOX_DIR": str(directory), "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            self.base_env.pop(name, None)
        self.env: dict[str, str] = {}

    def use_external(self, port: int) -> RunningSandbox:
        """SANDBOX=external against an emulator someone else runs on ``port``."""
        self.base_env.update(SANDBOX="external", AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
                             AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        return self

    @contextlib.contextmanager
    def started(self):
        """`make local-up`, the shell's `local-env`, and `make local-down` at the end; yields up's output."""
        up = self.sandbox("up")
        try:
            self.load_env()
            yield up.stdout
        finally:
            self.sandbox("down", check=False)

    def sandbox(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "scripts.sandbox", *args], self.base_env, check=check)

    def load_env(self) -> None:
        """What `eval "$(make -s local-env)"` gives a shell."""
        output = self.sandbox("env").stdout
        values = {}
        for line in output.splitlines():
            if "=" in line and not line.startswith("export "):
                key, value = line.split("=", 1)
                values[key] = shlex.split(value)[0] if value else ""
        self.env = {**self.base_env, **values}

    def awslocal(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["awslocal", *args], self.env, check=check)

    def client(self, service: str):
        """A client of the sandbox's emulator, as a consumer's program would make one."""
        return aws.client(service, endpoint=self.env["AWS_ENDPOINT_URL"],
                          region=self.env.get("AWS_DEFAULT_REGION") or "us-east-1",
                          credentials=("test", "test"))

    def receive(self, count: int, timeout: float = 30) -> list[dict]:
        """Take ``count`` messages off the output queue as a consumer does (an SDK: each
        awslocal call is a process of its own, and most tests read many messages)."""
        sqs, s3 = self.client("sqs"), self.client("s3")
        url = self.env["OUTPUT_QUEUE_URL"]
        return self._receive(
            count, timeout,
            receive=lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1),
            delete=lambda entries: sqs.delete_message_batch(QueueUrl=url, Entries=entries),
            payload=lambda bucket, key: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())

    def receive_with_awslocal(self, count: int, timeout: float = 30) -> list[dict]:
        """Read ``count`` messages off the output queue with awslocal, as the README says."""
        url = self.env["OUTPUT_QUEUE_URL"]
        return self._receive(
            count, timeout,
            receive=lambda: json.loads(self.awslocal(
                "sqs", "receive-message", "--queue-url", url, "--max-number-of-messages", "10",
                "--wait-time-seconds", "2").stdout or "{}"),
            delete=lambda entries: self.awslocal("sqs", "delete-message-batch", "--queue-url", url,
                                                 "--entries", json.dumps(entries)),
            payload=lambda bucket, key: self.awslocal("s3", "cp", f"s3://{bucket}/{key}", "-").stdout)

    @staticmethod
    def _receive(count: int, timeout: float, receive, delete, payload) -> list[dict]:
        bodies: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(bodies) < count and time.monotonic() < deadline:
            messages = receive().get("Messages", [])
            for message in messages:
                body = message["Body"]
                pointer = parse_pointer(body)
                if pointer:  # an offloaded payload: fetch it as a consumer would
                    body = payload(*pointer)
                bodies.append(from_json(body))
            if messages:  # what was read is deleted, so that it is not received again
                delete([{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(messages)])
        return bodies

    def pids(self) -> tuple[int, int]:
        state = json.loads((self.directory / "state.json").read_text())
        return state["emulator_pid"], state["runner_pid"]


@contextlib.contextmanager
def plain_moto_server(log_dir: Path):
    """A bare ``moto_server`` (no peek endpoint), as someone would start one by hand; yields its port."""
    port = free_port()
    with open(log_dir / "moto.log", "wb") as log:
        process = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while not port_open(port):
                assert process.poll() is None and time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


def run(command: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
                            timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped by its parent) is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def running_sandbox(tmp_path_factory):
    sandbox = RunningSandbox(tmp_path_factory.mktemp("sandbox"), free_port())
    try:
        with sandbox.started():
            yield sandbox
    finally:
        if (sandbox.directory / "runner.log").exists():
            print((sandbox.directory / "runner.log").read_text()[-5000:])
