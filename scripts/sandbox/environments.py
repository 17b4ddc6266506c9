"""The runner's execution environments: worker processes started on demand, reused while warm.

Up to the function's concurrency run at once. An environment that timed out,
ran out of memory or died is replaced by a fresh one (a cold start) the next
time one is needed, and so is every environment once the function's code
changes (``retire``). ``environments.json`` in the sandbox folder says which are
warm and which busy, function by function, for `make local-status`.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from scripts.sandbox import memory
from scripts.sandbox.function_config import FunctionConfig
from scripts.sandbox.report import Report

logger = logging.getLogger("event_runner")

WORKER_FILE = Path(__file__).with_name("worker.py")
CHAOS_PACKAGE = Path(__file__).with_name("chaos")


@dataclass(frozen=True)
class Package:
    """Where an environment imports the function from: the deployment package's layout
    (``function_package``): the code's task folder, then the dependencies' folder."""

    task: Path
    dependencies: Path
    runtime: Path  # the SDK Lambda's runtime provides, after the package
# How often a busy environment's memory is looked at: a peak between two looks
# is still caught, as the kernel keeps the high-water mark.
_SAMPLE_SECONDS = 0.02


@dataclass
class Attempt:
    """One invocation in one environment, as the runner reports it."""

    ok: bool
    report: Report
    environment: str
    payload: object = None
    error: str = ""
    error_type: str = ""
    traceback: str = ""


@dataclass
class Environment:
    id: str
    process: subprocess.Popen
    connection: Connection
    started: str
    init_ms: float = 0.0
    invocations: int = 0
    busy: bool = False
    alive: bool = True
    init_error: dict = field(default_factory=dict)
    _stopping: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Kill the environment; safe to call again, and from two threads at once
        (the invocation that saw it die, and the runner stopping)."""
        with self._stopping:
            self.alive = False
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            if not self.connection.closed:
                self.connection.close()

    def as_dict(self) -> dict:
        return {"id": self.id, "pid": self.pid, "state": "busy" if self.busy else "warm",
                "invocations": self.invocations, "started": self.started,
                "init_ms": round(self.init_ms, 2)}


def function_environment(function: FunctionConfig, stage: str) -> dict[str, str]:
    """The environment variables of a new execution environment: the runner's (the endpoint and
    credentials the sandbox gives its clients), the function's own, and those Lambda sets."""
    return {**os.environ, **function.environment, "CHALICE_STAGE": stage,
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "_HANDLER": function.handler,
            "PYTHONUNBUFFERED": "1"}


def start_environment(function: FunctionConfig, stage: str, package: Package,
                      init_timeout: float, chaos: bool = False, output: int | None = None) -> Environment:
    """A cold start: a new worker that imports the app; init_error says if that failed.
    ``output``: the file descriptor its stdout and stderr go to (the runner's, by default).

    ``python -I -S``: nothing of the development venv (site-packages, PYTHON*
    variables, the working folder) is importable, only the package's folders.
    """
    ours, theirs = socket.socketpair()
    process = subprocess.Popen(
        [sys.executable, "-I", "-S", "-u", str(WORKER_FILE), "--fd", str(theirs.fileno()),
         "--handler", function.handler, "--path", str(package.task),
         "--path", str(package.dependencies), "--path", str(package.runtime),
         "--parent", str(os.getpid()),
         *(["--chaos", str(CHAOS_PACKAGE)] if chaos else [])],
        pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, cwd=package.task,
        stdout=output, stderr=output, env=function_environment(function, stage))
    theirs.close()
    connection = Connection(ours.detach())
    environment = Environment(uuid.uuid4().hex[:8], process, connection,
                              datetime.now(UTC).isoformat(timespec="seconds"))
    started = time.monotonic()
    ready = None
    if connection.poll(init_timeout):
        with contextlib.suppress(EOFError):
            ready = connection.recv()
    else:
        ready = {"ready": False, "error": f"Init timed out after {init_timeout:.2f} seconds",
                 "error_type": "Sandbox.Timedout"}
    environment.init_ms = (ready or {}).get("init_ms", (time.monotonic() - started) * 1000)
    if not (ready or {}).get("ready"):
        environment.stop()
        environment.init_error = ready or {
            "error": f"Runtime exited during init (exit status {process.returncode})",
            "error_type": "Runtime.ExitError"}
    return environment


def invoke(environment: Environment, function: FunctionConfig, request_id: str, handler: str,
           event: dict, cold: bool, chaos: dict | None = None, attempt: int = 1,
           final: bool = True, chaos_key: str = "") -> Attempt:
    """Run one invocation; stop the environment if it outlives the timeout or the memory."""
    pid, size = environment.pid, function.memory_mb
    memory.reset_peak(pid)
    started = time.monotonic()
    deadline = started + function.timeout_seconds
    environment.connection.send({"event": event, "request_id": request_id,
                                 "function_name": function.function_name or handler,
                                 "memory_mb": size, "timeout_seconds": function.timeout_seconds,
                                 "chaos": chaos, "chaos_key": chaos_key or request_id,
                                 "attempt": attempt, "final": final})
    answer, status, peak = None, "", 0
    while True:
        peak = max(peak, memory.peak_mb(pid))
        if peak > size:
            status = "oom"
            break
        if time.monotonic() >= deadline:
            status = "timeout"
            break
        try:
            if not environment.connection.poll(_SAMPLE_SECONDS):
                continue
            answer = environment.connection.recv()
        except (EOFError, OSError):  # it died, or the runner stopped it as it stops
            status = "died"
        break
    duration = (time.monotonic() - started) * 1000
    if answer is not None:
        peak = max(peak, memory.peak_mb(pid))
        if peak > size:  # a peak between the last look and the answer: Lambda would have stopped it
            answer, status = None, "oom"
    init = environment.init_ms if cold else None
    environment.invocations += 1
    if answer is not None:
        report = Report(request_id, duration, size, peak, init)
        return Attempt(answer["ok"], report, environment.id, payload=answer.get("payload"),
                       error=answer.get("error", ""), error_type=answer.get("error_type", ""),
                       traceback=answer.get("traceback", ""))
    environment.stop()
    if status == "timeout":
        report = Report(request_id, duration, size, peak, init, status="timeout")
        return Attempt(False, report, environment.id, error_type="Sandbox.Timedout",
                       error=f"Task timed out after {function.timeout_seconds:.2f} seconds")
    if status == "oom":
        report = Report(request_id, duration, size, peak, init, status="error",
                        error_type="Runtime.OutOfMemory")
        return Attempt(False, report, environment.id, error_type="Runtime.OutOfMemory",
                       error=(f"Runtime exited with error: signal: killed (out of memory: "
                              f"{peak} MB used, Memory Size {size} MB)"))
    code = environment.process.returncode
    reason = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
    report = Report(request_id, duration, size, peak, init, status="error",
                    error_type="Runtime.ExitError")
    return Attempt(False, report, environment.id, error_type="Runtime.ExitError",
                   error=f"Runtime exited with error: {reason}")


class StatusBoard:
    """``environments.json``: every function's environments, as `make local-status` shows them.

    The pools of all functions share one board, which writes the file whole
    under one lock: a file per pool written in turn would keep only the last
    pool's figures, and two pools replacing it at once would race on its
    temporary copy.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._functions: dict[str, dict] = {}
        path.unlink(missing_ok=True)  # a former runner's environments are gone

    def show(self, function: FunctionConfig, environments: list[Environment]) -> None:
        with self._lock:
            self._functions[function.name] = {
                "function": function.name, "concurrency": function.concurrency,
                "timeout_seconds": function.timeout_seconds, "memory_mb": function.memory_mb,
                "environments": [e.as_dict() for e in environments]}
            temporary = self._path.with_suffix(".tmp")
            try:
                temporary.write_text(json.dumps({"functions": list(self._functions.values())}, indent=2))
                temporary.replace(self._path)  # a reader never sees half a file
            except OSError as exc:
                # Only `make local-status` reads it: an invocation must not fail for it.
                logger.warning("could not write %s (%s); make local-status shows it again once "
                               "it can be written", self._path, exc)


class EnvironmentPool:
    """At most ``function.concurrency`` environments of one function, reused while warm."""

    def __init__(self, function: FunctionConfig, stage: str, package: Package,
                 board: StatusBoard | None = None, chaos: dict | None = None,
                 output: int | None = None) -> None:
        self.function = function
        self._stage, self._package, self._board = stage, package, board
        self._output = output
        self._chaos = chaos  # the faults to inject (chaos mode), or None
        self._slots = threading.BoundedSemaphore(function.concurrency)
        self._lock = threading.Lock()
        self._environments: list[Environment] = []
        self._closed = False
        self._retiring = False
        self._write_status()

    def invoke(self, request_id: str, handler: str, event: dict, attempt: int = 1,
               final: bool = True, chaos_key: str = "") -> Attempt:
        with self._slots:
            if self._closed:  # the runner stops: no new environment starts
                report = Report(request_id, 0.0, self.function.memory_mb, 0)
                return Attempt(False, report, "-", error="the event runner is stopping",
                               error_type="Sandbox.Stopping")
            environment, cold = self._take()
            try:
                if environment.init_error:
                    error = environment.init_error
                    report = Report(request_id, 0.0, self.function.memory_mb, 0,
                                    environment.init_ms, status="error",
                                    error_type=error["error_type"])
                    return Attempt(False, report, environment.id, error=error["error"],
                                   error_type=error["error_type"],
                                   traceback=error.get("traceback", ""))
                return invoke(environment, self.function, request_id, handler, event, cold,
                              self._chaos, attempt, final, chaos_key)
            finally:
                self._give_back(environment)

    def _take(self) -> tuple[Environment, bool]:
        with self._lock:
            for environment in self._environments:
                if environment.alive and not environment.busy:
                    environment.busy = True
                    self._write_status()
                    return environment, False
        environment = start_environment(self.function, self._stage, self._package,
                                        init_timeout=max(10.0, self.function.timeout_seconds),
                                        chaos=self._chaos is not None, output=self._output)
        environment.busy = True
        with self._lock:
            self._environments.append(environment)
            if self._closed:  # closed while it started: it must not outlive the runner
                environment.stop()
            self._write_status()
        return environment, True

    def _give_back(self, environment: Environment) -> None:
        with self._lock:
            environment.busy = False
            if self._retiring:  # it ran on the code of before a change: never reused
                environment.stop()
            if not environment.alive and environment in self._environments:  # else closed meanwhile
                self._environments.remove(environment)
            self._write_status()

    def retire(self) -> int:
        """The code changed: stop the warm environments now, and each busy one once its
        invocation ends (it finishes on the code it started with); return how many there were."""
        with self._lock:
            self._retiring = True
            count = len(self._environments)
            for environment in [e for e in self._environments if not e.busy]:
                environment.stop()
                self._environments.remove(environment)
            self._board = None  # the pool that replaces this one shows the function now
        return count

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for environment in self._environments:
                environment.stop()
            self._environments.clear()
            self._write_status()

    def _write_status(self) -> None:
        if self._board is not None:
            self._board.show(self.function, self._environments)
