"""The emulator's fixes to moto: one table, installed once, and only into the moto they were written for."""
from __future__ import annotations

import subprocess
import sys

import moto
import pytest

from scripts.sandbox import emulator
from scripts.sandbox.errors import SandboxError
from tests.conftest import PROJECT_DIR


@pytest.fixture
def moto_restored(monkeypatch) -> None:
    """Whatever a test installs into moto is taken out after it."""
    for patch in emulator.patches():
        monkeypatch.setattr(patch.owner, patch.name, getattr(patch.owner, patch.name))


def test_the_emulator_refuses_to_start_on_another_moto_and_says_what_to_do():
    # `python -m scripts.sandbox.emulator` as the sandbox starts it, in a
    # process that reports another moto version.
    program = ("import moto, runpy; moto.__version__ = '5.3.0'; "
               "runpy.run_module('scripts.sandbox.emulator', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", program, "-p", "1"], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert result.stderr.startswith("error: moto 5.3.0 is installed")
    assert f"written for moto {emulator.MOTO_VERSION}" in result.stderr
    assert "make venv" in result.stderr and "pip install -r requirements-dev.txt" in result.stderr
    assert "Traceback" not in result.stderr


def test_installing_into_another_moto_is_refused_before_anything_changes(moto_restored):
    before = [getattr(patch.owner, patch.name) for patch in emulator.patches()]

    with pytest.raises(SandboxError, match=r"moto 5\.3\.0 is installed.*written for moto 5\.2\.5"):
        emulator.install_fixes(moto_version="5.3.0")

    assert [getattr(patch.owner, patch.name) for patch in emulator.patches()] == before


def test_the_installed_moto_is_the_one_the_fixes_were_written_for():
    # requirements-dev.txt pins it; a bump must come with a review of every row.
    pinned = [line for line in (PROJECT_DIR / "requirements-dev.txt").read_text().splitlines()
              if line.startswith("moto")]
    assert pinned == [f"moto[server]=={emulator.MOTO_VERSION}"]
    assert moto.__version__ == emulator.MOTO_VERSION


def test_every_row_replaces_something_moto_has_and_says_why_in_one_line():
    rows = emulator.patches()

    assert len({(patch.owner, patch.name) for patch in rows}) == len(rows)
    for patch in rows:
        assert hasattr(patch.owner, patch.name), f"{patch.owner}.{patch.name}"
        assert patch.why.strip() and "\n" not in patch.why
        assert patch.service in ("sqs", "dynamodb", "s3", "apigateway")


def test_installing_twice_wraps_nothing_twice(moto_restored):
    emulator.install_fixes()
    once = [getattr(patch.owner, patch.name) for patch in emulator.patches()]
    emulator.install_fixes()
    emulator.install_sqs_fixes()
    emulator.install_dynamodb_fixes()

    assert [getattr(patch.owner, patch.name) for patch in emulator.patches()] == once
