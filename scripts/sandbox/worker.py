"""One execution environment of the local runner: a process that imports the app once.

    python -m scripts.sandbox.worker --fd N --stage local --project-dir DIR

As Lambda's runtime does, it imports ``app.py`` once (the init phase, timed and
reported), then handles one invocation at a time for as long as it lives, so
module state (cached clients, anything at module level) carries over from one
invocation to the next in the same environment, and only there. Requests and
answers travel on the socket ``--fd``; the handler's own output goes to the
inherited stdout, the runner's log.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from multiprocessing.connection import Connection


def load_app(stage: str, project: str):
    os.environ.setdefault("CHALICE_STAGE", stage)
    if project not in sys.path:
        sys.path.insert(0, project)
    import app as app_module  # the project's app.py, as Lambda's handler setting names it
    return app_module.app


def serve(connection: Connection, stage: str, project: str) -> int:
    started = time.monotonic()
    try:
        from chalice.test import Client  # Chalice's own wrapper: stage env vars, context
        client = Client(load_app(stage, project), stage_name=stage, project_dir=project)
    except BaseException as exc:  # noqa: BLE001 - Lambda reports an init failure and retries
        connection.send({"ready": False, "error": f"{type(exc).__name__}: {exc}",
                         "error_type": "Runtime.ImportModuleError",
                         "traceback": traceback.format_exc()})
        return 1
    connection.send({"ready": True, "init_ms": (time.monotonic() - started) * 1000})
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return 0  # the runner closed the environment
        try:
            payload = client.lambda_.invoke(request["handler"], request["event"]).payload
        except Exception as exc:  # noqa: BLE001 - the runner decides about retries
            connection.send({"ok": False, "error": f"{type(exc).__name__}: {exc}",
                             "error_type": type(exc).__name__,
                             "traceback": traceback.format_exc().rstrip()})
        else:
            connection.send({"ok": True, "payload": payload})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--project-dir", required=True)
    args = parser.parse_args(argv)
    return serve(Connection(args.fd), args.stage, args.project_dir)


if __name__ == "__main__":
    sys.exit(main())
