"""How the runner invokes a handler: in its own process, or in execution environments.

Both call the handler as Lambda's runtime does (``worker.invoke``): the
function's handler setting, the event, and a context with the request id the
runner gives and the time left before the function's timeout.
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

from scripts.sandbox import memory, worker
from scripts.sandbox.chaos.settings import Chaos
from scripts.sandbox.environments import Attempt, EnvironmentPool, StatusBoard
from scripts.sandbox.function_config import FunctionConfig
from scripts.sandbox.report import Report


class InProcessInvoker:
    """Invokes in the runner's own process, one at a time: `make local-run`, replays, tests.

    A debugger may hold an invocation for as long as it likes, so the timeout
    is not enforced here; the REPORT says when Lambda would have stopped it.
    The function's environment variables are set for each invocation only, as
    the rest of the process (the runner, a test) has its own.
    """

    def __init__(self, stage: str, project: Path, functions: Callable[[str], FunctionConfig]) -> None:
        self._stage, self._project = stage, project
        self._functions = functions

    def invoke(self, request_id: str, handler: str, event: dict, attempt: int = 1,
               final: bool = True, chaos_key: str = "") -> Attempt:
        function = self._functions(handler)
        memory.reset_peak(os.getpid())
        started = time.monotonic()
        request = {"event": event, "request_id": request_id,
                   "function_name": function.function_name or handler,
                   "memory_mb": function.memory_mb, "timeout_seconds": function.timeout_seconds}
        try:
            with worker.environment_variables({**function.environment, "CHALICE_STAGE": self._stage}):
                payload = worker.invoke(worker.load_handler(function.handler, str(self._project)),
                                        request)
            ok, error, error_type, trace = True, "", "", ""
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried, as Lambda does
            payload, ok, error, error_type = None, False, f"{type(exc).__name__}: {exc}", type(exc).__name__
            trace = traceback.format_exc().rstrip()
        report = Report(request_id, (time.monotonic() - started) * 1000, function.memory_mb,
                        memory.peak_mb(os.getpid()))
        return Attempt(ok, report, "in-process", payload=payload, error=error,
                       error_type=error_type, traceback=trace)

    def close(self) -> None:
        pass


class PoolInvoker:
    """Invokes in execution environments: a pool of worker processes per function."""

    def __init__(self, stage: str, project: Path, functions: Callable[[str], FunctionConfig],
                 status_file: Path | None, chaos: Chaos | None = None) -> None:
        self._stage, self._project, self._functions = stage, project, functions
        self._chaos = chaos.as_dict() if chaos is not None and chaos.on else None
        self._board = StatusBoard(status_file) if status_file is not None else None
        self._pools: dict[str, EnvironmentPool] = {}
        self._lock = threading.Lock()

    def pool(self, handler: str) -> EnvironmentPool:
        with self._lock:
            if handler not in self._pools:
                self._pools[handler] = EnvironmentPool(self._functions(handler), self._stage,
                                                       self._project, self._board, self._chaos)
            return self._pools[handler]

    def invoke(self, request_id: str, handler: str, event: dict, attempt: int = 1,
               final: bool = True, chaos_key: str = "") -> Attempt:
        return self.pool(handler).invoke(request_id, handler, event, attempt, final, chaos_key)

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
