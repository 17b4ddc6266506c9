"""One execution environment of the local runner: what Lambda's Python runtime does for a function.

    python -I -S -u scripts/sandbox/worker.py --fd N --handler app.on_csv_uploaded \
        --path <task folder> --path <dependencies>

The runner starts it with the function's environment variables already set,
as Lambda does, and with nothing importable but the function's deployment
package (``function_package``): this module uses the standard library only.
At init it imports the handler's module (``app.py``) once, timed and reported;
then it handles one invocation at a time for as long as it lives, so module
state (cached clients, anything at module level) carries over from one
invocation to the next in the same environment, and only there.

Each invocation calls the handler as Lambda's runtime calls the handler
setting ``app.<function>`` that `chalice deploy` writes: with the event and a
context that carries the request id the runner gives (Lambda keeps it when it
retries an event) and the time left before the function's timeout. Requests
and answers travel on the socket ``--fd``; the handler's own output goes to
the inherited stdout, the runner's log.

An environment never outlives its runner: Lambda's sandboxes end with the
service, and an orphan would go on running with no timeout or memory limit.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import importlib.util
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection
from types import ModuleType

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class LambdaContext:
    """The context object Lambda passes to a Python handler (the attributes it documents)."""

    def __init__(self, request_id: str, function_name: str, memory_mb: int,
                 timeout_seconds: float) -> None:
        self.aws_request_id = request_id
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "sandbox"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InitError(Exception):
    """The handler could not be loaded, as Lambda's Python runtime reports it."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(handler: str, project: str | None = None):
    """The callable Lambda's handler setting names (``module.attribute``), imported from ``project``
    (or from the path as it is). An import that fails is an InitError with the type and the
    words of Lambda's runtime (awslambdaric's ``_get_handler``); any other exception the
    module raises is reported as it is, as there."""
    module_name, _, attribute = handler.rpartition(".")
    if project is not None and project not in sys.path:
        sys.path.insert(0, project)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InitError("Runtime.ImportModuleError",
                        f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        raise InitError("Runtime.UserCodeSyntaxError",
                        f"Syntax error in module '{module_name}': {exc}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise InitError("Runtime.HandlerNotFound",
                        f"Handler '{attribute}' missing on module '{module_name}'") from None


def load_chaos(package: str) -> tuple[ModuleType, ModuleType]:
    """The sandbox's chaos package, from its folder (nothing of the sandbox is on the path)."""
    spec = importlib.util.spec_from_file_location(
        "sandbox_chaos", os.path.join(package, "__init__.py"), submodule_search_locations=[package])
    if spec is None or spec.loader is None:
        raise ImportError(f"no chaos package to load in {package}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sandbox_chaos"] = module
    spec.loader.exec_module(module)
    return importlib.import_module("sandbox_chaos.wire"), importlib.import_module("sandbox_chaos.settings")


def load_app(stage: str, project: str):
    """The project's Chalice app object, for the runner's own look at its handlers."""
    os.environ.setdefault("CHALICE_STAGE", stage)
    if project not in sys.path:
        sys.path.insert(0, project)
    import app as app_module  # the project's app.py, as Lambda's handler setting names it
    return app_module.app


def invoke(handler, request: dict):
    """Call ``handler`` for one request as Lambda's runtime would; return its result."""
    context = LambdaContext(request["request_id"], request["function_name"],
                            request["memory_mb"], request["timeout_seconds"])
    return handler(request["event"], context)


@contextlib.contextmanager
def environment_variables(values: Mapping[str, str]) -> Iterator[None]:
    """The function's environment variables set for the block (the in-process runner's case)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def die_with(parent: int) -> None:
    """End this process when ``parent`` (the runner) ends, however it ends."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:  # elsewhere, and for a parent that died before prctl
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def serve(connection: Connection, handler_setting: str, chaos_package: str = "") -> int:
    wire: ModuleType | None = None
    settings: ModuleType | None = None
    started = time.monotonic()
    try:
        if chaos_package:  # before the app builds any client: every botocore session gets the hook
            wire, settings = load_chaos(chaos_package)
            wire.install()
        handler = load_handler(handler_setting)
    except BaseException as exc:  # noqa: BLE001 - Lambda reports an init failure and retries
        error_type = exc.error_type if isinstance(exc, InitError) else type(exc).__name__
        connection.send({"ready": False, "error": f"{error_type}: {exc}", "error_type": error_type,
                         "traceback": traceback.format_exc()})
        return 1
    connection.send({"ready": True, "init_ms": (time.monotonic() - started) * 1000})
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return 0  # the runner closed the environment
        if wire is not None and settings is not None:  # load_chaos sets both or neither
            wire.begin(settings.Chaos.from_dict(request.get("chaos")), request["request_id"],
                       request.get("chaos_key") or request["request_id"],
                       request.get("attempt", 1), request.get("final", True))
        try:
            payload = invoke(handler, request)
        except Exception as exc:  # noqa: BLE001 - the runner decides about retries
            connection.send({"ok": False, "error": f"{type(exc).__name__}: {exc}",
                             "error_type": type(exc).__name__,
                             "traceback": traceback.format_exc().rstrip()})
        else:
            connection.send({"ok": True, "payload": payload})
        finally:
            if wire is not None:
                wire.end()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--handler", required=True, help="Lambda's handler setting, e.g. app.on_csv_uploaded")
    parser.add_argument("--path", action="append", default=[],
                        help="a folder to import from: the package's code, then its dependencies")
    parser.add_argument("--parent", type=int, default=0, help="the runner's pid: end with it")
    parser.add_argument("--chaos", default="", help="the sandbox's chaos package: inject the "
                                                    "faults each request names")
    args = parser.parse_args(argv)
    if args.parent:
        die_with(args.parent)
    sys.path[:0] = args.path
    return serve(Connection(args.fd), args.handler, args.chaos)


if __name__ == "__main__":
    sys.exit(main())
