"""`make local-api`: `chalice local` against the sandbox, restarted when the app's code changes."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from chalicelib.config import PROJECT_DIR
from scripts.sandbox.errors import SandboxError
from scripts.sandbox.lifecycle import require_running
from scripts.sandbox.processes import port_in_use
from scripts.sandbox.state import HOST


def api_sources(project_dir: Path = PROJECT_DIR) -> dict[Path, int]:
    """Modification times of the files whose change restarts `chalice local`: the
    app's code and its stage settings, nothing else.

    Chalice's own reloader watches every file under the project: .venv, .git,
    __pycache__ and the sandbox's logs and state in .sandbox/ included. The
    runner's and the emulator's log lines alone restarted it about once a
    second, and each restart dropped the requests it was serving.
    """
    paths = [project_dir / "app.py", project_dir / ".chalice" / "config.json",
             *sorted((project_dir / "chalicelib").rglob("*.py"))]
    mtimes = {}
    for path in paths:
        with contextlib.suppress(FileNotFoundError):  # deleted: its absence is a change too
            mtimes[path] = path.stat().st_mtime_ns
    return mtimes


def supervise(command: list[str], env: Mapping[str, str], sources: Callable[[], dict[Path, int]],
              name: str, poll: float = 1.0, out: Callable[[str], None] = print,
              stop: threading.Event | None = None, cwd: Path = PROJECT_DIR) -> int:
    """Run ``command`` and start it anew each time ``sources()`` changes.

    Returns the command's exit code if it ends by itself before any change
    (a port already taken, an app that does not import); after a change it
    waits for the next one instead, as the developer is in the middle of an edit.
    """
    stop = stop or threading.Event()
    seen = sources()
    process = subprocess.Popen(command, cwd=cwd, env=dict(env))
    reloaded = told_exit = False
    try:
        while not stop.wait(poll):
            now = sources()
            if now != seen:
                changed = sorted(p for p in now.keys() | seen.keys() if now.get(p) != seen.get(p))
                seen = now
                more = len(changed) - 1
                others = f" and {more} other file{'s' if more > 1 else ''}" if more else ""
                out(f"{_relative(changed[0], cwd)}{others} changed: restarting {name}.")
                _end(process)
                process = subprocess.Popen(command, cwd=cwd, env=dict(env))
                reloaded, told_exit = True, False
                continue
            code = process.poll()
            if code is not None:
                if not reloaded:
                    return code
                if not told_exit:
                    out(f"{name} exited with code {code}; it starts again at the next change "
                        f"(Ctrl-C to stop).")
                    told_exit = True
    finally:
        _end(process)
    return 0


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve_api(host: str, port: int) -> int:
    """`make local-api`: `chalice local` against the running sandbox, restarted on code changes."""
    state = require_running()
    if state is None:
        return 1
    if host == HOST and port_in_use(port):
        raise SandboxError(f"port {port} on {host} is already in use (see it with: ss -ltnp "
                           f"'sport = :{port}'): stop that program, or choose another port: "
                           f"make local-api API_PORT={port + 1}")
    chalice = Path(sys.executable).parent / "chalice"
    # Its own reloader is off (see api_sources); this process restarts it instead.
    command = [str(chalice) if chalice.exists() else "chalice", "local", "--no-autoreload",
               "--stage", state.stage, "--host", host, "--port", str(port)]
    print(f"chalice local on http://{host}:{port}, against the {state.mode} sandbox at "
          f"{state.endpoint}; it restarts when app.py, chalicelib/ or .chalice/config.json "
          f"change (Ctrl-C to stop).", flush=True)
    # `kill <pid>` of this process stops chalice local too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        return supervise(command, {**os.environ, **state.env_lines()}, api_sources,
                         "chalice local")
    except KeyboardInterrupt:
        return 0

