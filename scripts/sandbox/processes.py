"""Starting, finding and stopping the sandbox's background processes."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from chalicelib.config import PROJECT_DIR
from scripts.sandbox.state import HOST


def pid_alive(pid: int, expect: str) -> bool:
    """True when ``pid`` runs and its command line contains ``expect`` (not a recycled pid)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid
    return expect in cmdline


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def endpoint_answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True  # it answered HTTP
    except OSError:
        return False


def stop_process(pid: int, expect: str, timeout: float = 10) -> None:
    if not pid_alive(pid, expect):
        return
    # What the sandbox started runs in its own session (pgid == pid): the group goes, its
    # workers with it. `make local-run`'s runner is in the terminal's group: it alone.
    try:
        kill = os.killpg if os.getpgid(pid) == pid else os.kill
        kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid, expect):
        _reap(pid)
        time.sleep(0.1)
    if pid_alive(pid, expect):
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def spawn(command: list[str], log_file: Path, env: dict[str, str],
           fresh_log: bool = False) -> subprocess.Popen:
    with open(log_file, "wb" if fresh_log else "ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=PROJECT_DIR,
                                env=env, start_new_session=True)

