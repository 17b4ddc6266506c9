"""The embedded emulator: moto's server with fixes to moto, plus a read-only view of queue contents.

    python -m scripts.sandbox.emulator -H 127.0.0.1 -p 4566

It serves every AWS API moto emulates, as ``moto_server`` does, with the
fixes of ``fixes.patches()`` installed, behind the peek endpoint (``peek``).
It refuses to start on a moto the fixes were not written for.
"""
from __future__ import annotations

import argparse
import signal
import sys

import moto
from werkzeug.serving import run_simple

from scripts.sandbox.emulator.fixes import install_fixes
from scripts.sandbox.emulator.peek import PeekMiddleware
from scripts.sandbox.errors import SandboxError


def main(argv: list[str] | None = None, moto_version: str = moto.__version__) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.sandbox.emulator",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    try:
        install_fixes(moto_version=moto_version)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # After the version check, so that a moto in which it moved gets the plain message.
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    app = PeekMiddleware(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    return 0
