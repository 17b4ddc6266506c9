"""How the runner invokes a handler: in its own process, or in execution environments.

Both call the handler as Lambda's runtime does (``worker.invoke``): the
function's handler setting, the event, and a context with the request id the
runner gives and the time left before the function's timeout.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from scripts.sandbox import function_package, memory, worker
from scripts.sandbox.chaos.settings import Chaos
from scripts.sandbox.code_watch import code_state, config_changed
from scripts.sandbox.environments import Attempt, EnvironmentPool, Package, StatusBoard
from scripts.sandbox.function_config import FunctionConfig
from scripts.sandbox.report import Report
from scripts.sandbox.wording import plural

logger = logging.getLogger("event_runner")


class BeyondThePackage:
    """Modules the function imported in the runner's process that its deployment package lacks.

    In the process, the development venv is on the path (moto, pytest, ...):
    an import there works where Lambda's would fail. Made before the app is
    imported, it takes what the runner itself loaded as known.
    """

    def __init__(self, project: Path) -> None:
        self._package = (function_package.package_modules(function_package.dependencies(project))
                         | function_package.package_modules(function_package.runtime_sdk()))
        self._known = self._loaded()

    @staticmethod
    def _loaded() -> set[str]:
        site = tuple(p for p in sys.path if p.endswith("site-packages"))
        return {name.partition(".")[0] for name, module in list(sys.modules.items())
                if str(getattr(module, "__file__", None) or "").startswith(site)}

    def newly_imported(self) -> list[str]:
        found = self._loaded() - self._package - self._known
        self._known |= found
        return sorted(found)

    def say(self) -> None:
        for module in self.newly_imported():
            logger.warning("the function imported %s, which its deployment package does not hold "
                           "(requirements.txt): it works here, in the development venv, and fails "
                           "in Lambda with Runtime.ImportModuleError (the background runner of "
                           "`make local-up` imports only what the package holds)", module)


class InProcessInvoker:
    """Invokes in the runner's own process, one at a time: `make local-run`, replays, tests.

    A debugger may hold an invocation for as long as it likes, so the timeout
    is not enforced here; the REPORT says when Lambda would have stopped it.
    The function's environment variables are set for each invocation only, as
    the rest of the process (the runner, a test) has its own.
    """

    def __init__(self, stage: str, project: Path, functions: Callable[[str], FunctionConfig],
                 beyond: BeyondThePackage | None = None) -> None:
        self._stage, self._project = stage, project
        self._functions = functions
        self._beyond = beyond  # says when the function imports what its package lacks

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
        if self._beyond is not None:
            self._beyond.say()
        return Attempt(ok, report, "in-process", payload=payload, error=error,
                       error_type=error_type, traceback=trace)

    def close(self) -> None:
        pass


class PoolInvoker:
    """Invokes in execution environments: a pool of worker processes per function.

    The environments import the function from its deployment package's layout
    (``function_package``). Before each invocation it looks whether the code
    or its settings changed (``code_watch``); if so, it replaces every pool:
    the next invocation starts cold with the new code and settings, and one
    already running finishes on the code it started with.
    """

    def __init__(self, stage: str, project: Path, functions: Callable[[str], FunctionConfig],
                 status_file: Path | None, chaos: Chaos | None = None,
                 forget_settings: Callable[[], None] = lambda: None,
                 build_root: Path | None = None, output: int | None = None) -> None:
        self._stage, self._project, self._functions = stage, project, functions
        self._output = output  # where the environments' stdout goes (the runner's, by default)
        self._chaos = chaos.as_dict() if chaos is not None and chaos.on else None
        self._board = StatusBoard(status_file) if status_file is not None else None
        self._forget_settings = forget_settings
        self._build_root = build_root or function_package.BUILD_ROOT
        self._pools: dict[str, EnvironmentPool] = {}
        self._lock = threading.Lock()
        self._code = code_state(project)
        self._scratch = Path(tempfile.mkdtemp(prefix="function-task-"))
        self._package: Package | None = None

    def pool(self, handler: str) -> EnvironmentPool:
        with self._lock:
            if handler not in self._pools:
                self._pools[handler] = EnvironmentPool(self._functions(handler), self._stage,
                                                       self._current_package(), self._board,
                                                       self._chaos, self._output)
            return self._pools[handler]

    def _current_package(self) -> Package:
        if self._package is None:
            task = function_package.task_folder(self._project, Path(tempfile.mkdtemp(dir=self._scratch)))
            self._package = Package(task, function_package.dependencies(self._project, self._build_root),
                                    function_package.runtime_sdk(self._build_root))
        return self._package

    def invoke(self, request_id: str, handler: str, event: dict, attempt: int = 1,
               final: bool = True, chaos_key: str = "") -> Attempt:
        self._replace_if_changed()
        return self.pool(handler).invoke(request_id, handler, event, attempt, final, chaos_key)

    def _replace_if_changed(self) -> None:
        now = code_state(self._project)
        with self._lock:
            changes = now.changes_from(self._code)
            if not changes:
                return
            self._code, self._package = now, None  # a new task folder, and dependencies if need be
            retiring = list(self._pools.values())
            self._pools.clear()
            if config_changed(changes):
                self._forget_settings()
        warm = sum(pool.retire() for pool in retiring)
        shown = ", ".join(changes[:5]) + (f" and {len(changes) - 5} more" if len(changes) > 5 else "")
        logger.warning("the function's code changed (%s): %s replaced; the next invocation starts "
                       "cold with it (one already running finishes on the code it started with)%s",
                       shown, plural(warm, "environment"),
                       "; the settings of .chalice/config.json are read again"
                       if config_changed(changes) else "")

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
        shutil.rmtree(self._scratch, ignore_errors=True)
