"""The bench's own emulator: the sandbox's embedded one, on a free port, for the bench alone.

A private emulator, so that nothing else (a running sandbox, its runner, a
test) shares its figures, and so that `make bench` neither needs nor disturbs
`make local-up`. It is started as the sandbox starts its embedded emulator
(``scripts.sandbox.lifecycle``): ``python -m scripts.sandbox.emulator`` through
``processes.spawn``, ready when ``processes.endpoint_answers``.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from scripts.sandbox.processes import endpoint_answers, spawn
from scripts.sandbox.state import HOST

EMULATOR_MODULE = "scripts.sandbox.emulator"  # the embedded emulator `make local-up` starts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class PrivateEmulator:
    """``with PrivateEmulator(log) as endpoint:`` an emulator of its own for the block."""

    def __init__(self, log_path: Path, start_seconds: float = 30, stop_seconds: float = 30) -> None:
        self._log_path = log_path
        self._start_seconds = start_seconds
        self._stop_seconds = stop_seconds
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> str:
        port = free_port()
        endpoint = f"http://{HOST}:{port}"
        self._process = spawn([sys.executable, "-m", EMULATOR_MODULE, "-H", HOST, "-p", str(port)],
                              self._log_path, {**os.environ, "PYTHONUNBUFFERED": "1"}, fresh_log=True)
        try:
            self._wait_for(endpoint, self._process)
        except BaseException:
            self.stop()
            raise
        return endpoint

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _wait_for(self, endpoint: str, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + self._start_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the emulator exited at start-up; see {self._log_path}")
            if endpoint_answers(endpoint):
                return
            time.sleep(0.1)
        raise SystemExit(f"the emulator did not answer at {endpoint} within {self._start_seconds:.0f} s; "
                         f"see {self._log_path}")

    def stop(self) -> None:
        # This object started the emulator and holds its handle: stop it through
        # that, not by a pid that may have been reused.
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=self._stop_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
