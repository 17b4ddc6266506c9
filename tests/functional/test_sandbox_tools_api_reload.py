"""`make local-api` starts `chalice local` anew when the app's code changes, and only then."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from scripts.sandbox.local_api import api_sources, supervise

# Stands in for `chalice local`: notes its pid, then serves until it is stopped.
SERVER = "import os, sys, time; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n'); time.sleep(120)"


@pytest.fixture
def project(tmp_path):
    for name in ("app.py", ".chalice/config.json", "chalicelib/api.py", "chalicelib/sub/deep.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# v1\n")
    (tmp_path / ".sandbox").mkdir()
    return tmp_path


@pytest.fixture
def served(project, tmp_path_factory):
    pids = tmp_path_factory.mktemp("pids") / "pids"
    pids.touch()
    stop, said = threading.Event(), []
    thread = threading.Thread(target=supervise, kwargs={
        "command": [sys.executable, "-c", SERVER, str(pids)], "env": os.environ,
        "sources": lambda: api_sources(project), "name": "the server", "poll": 0.1, "out": said.append,
        "stop": stop, "cwd": project})
    thread.start()
    try:
        yield pids, said
    finally:
        stop.set()
        thread.join(timeout=15)


def started(pids: Path, count: int, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(lines := pids.read_text().split()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [int(line) for line in lines]


def touch(path: Path, text: str) -> None:
    path.write_text(text)
    later = time.time() + 2  # a change even where the clock's resolution is coarse
    os.utime(path, (later, later))


def test_the_sandbox_writing_its_logs_and_caches_restarts_nothing(project, served):
    pids, said = served
    [first] = started(pids, 1)
    for name in (".sandbox/runner.log", ".sandbox/emulator.log", ".sandbox/state.json",
                 "chalicelib/__pycache__/api.cpython-311.pyc", "notes.txt", ".venv/lib/x.py"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        touch(project / name, "written while serving\n")
    time.sleep(0.6)  # several polls

    assert started(pids, 2, timeout=0.2) == [first]
    assert said == []


@pytest.mark.parametrize("edited", ["chalicelib/api.py", "chalicelib/sub/deep.py", "app.py",
                                    ".chalice/config.json"])
def test_an_edit_of_the_code_or_the_stage_settings_restarts_it_once(project, served, edited):
    pids, said = served
    [first] = started(pids, 1)

    touch(project / edited, "# v2\n")
    both = started(pids, 2)
    time.sleep(0.5)

    assert len(both) == 2 and started(pids, 3, timeout=0.2) == both  # once, not again and again
    assert said == [f"{edited} changed: restarting the server."]
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # the old one is gone, not left running beside the new one


def test_a_server_that_stops_by_itself_before_any_edit_gives_its_exit_code(project):
    code = supervise([sys.executable, "-c", "raise SystemExit(3)"], os.environ,
                     lambda: api_sources(project), "the server", poll=0.1, cwd=project)

    assert code == 3
