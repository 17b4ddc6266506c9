"""`make help` tells a person how to call the sandbox's tools."""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.conftest import run

pytestmark = pytest.mark.e2e


def help_lines() -> dict[str, str]:
    output = re.sub(r"\x1b\[[0-9;]*m", "", run(["make", "-s", "help"], dict(os.environ)).stdout)
    return {line.split()[0]: line.split(None, 1)[1] for line in output.splitlines() if line.strip()}


def test_generate_says_orphans_and_invalid_are_fractions_with_an_example():
    text = help_lines()["generate"]

    assert "ORPHANS, INVALID are fractions 0-1" in text
    assert "ORPHANS=0.05 is 5%" in text


def test_local_api_says_what_restarts_it():
    assert "restarts on edits to app.py, chalicelib/, .chalice/config.json" in help_lines()["local-api"]


def test_generate_with_a_percentage_says_what_to_type_instead(tmp_path):
    result = run(["make", "-s", "generate", "ORPHANS=5", "CUSTOMERS=1", "ORDERS=1", "ITEMS=1"],
                 {**os.environ, "SANDBOX_DIR": str(tmp_path)}, check=False)

    assert result.returncode != 0
    assert "ORPHANS=5 is not a fraction between 0 and 1: ORPHANS=0.05 means 5% of the rows" \
        in result.stderr
    assert "usage:" not in result.stderr


def test_no_target_s_help_shows_an_unexpanded_make_variable():
    shown = {target: text for target, text in help_lines().items() if "$(" in text}

    assert shown == {}
