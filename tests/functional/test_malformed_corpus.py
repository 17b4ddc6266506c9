"""Every file of the malformed corpus is rejected whole, with the report EXPECTED.json states.

The corpus (tests/corpus/) holds static partner files: ``malformed/`` has files
whose key is fine and whose content is not; ``unknown_keys/`` has files whose
object key names no kind and batch. ``malformed/EXPECTED.json`` states, for each
file, the report key, the problem count and the first (up to 3) problems as
[line, column, reason]: the exact reason, word for word as the partner reads it,
for a malformed file; a part of it for an unknown key, whose reasons belong to
the key parser (``chalicelib/keys.py``), not to this corpus.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

CORPUS_DIR = PROJECT_DIR / "tests" / "corpus"
FOLDERS = ("malformed", "unknown_keys")
EXPECTED_PATH = CORPUS_DIR / "malformed" / "EXPECTED.json"
MAX_LISTED = 1000


def _corpus_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder in FOLDERS:
        for path in sorted((CORPUS_DIR / folder).glob("*.csv")):
            assert path.name not in files, f"{path.name} is in more than one corpus folder"
            files[path.name] = path
    return files


def _expected() -> dict[str, dict]:
    return json.loads(EXPECTED_PATH.read_text(encoding="utf-8"))["files"]


CORPUS = _corpus_files()
EXPECTED = _expected()


def test_the_corpus_and_its_expectations_do_not_drift():
    assert len(CORPUS) >= 25
    assert len(list((CORPUS_DIR / "malformed").glob("*.csv"))) >= 25
    assert sorted(CORPUS) == sorted(EXPECTED), "every corpus file needs an EXPECTED entry, and vice versa"
    for name, entry in EXPECTED.items():
        assert CORPUS[name].parent.name == entry["folder"], name
        assert 1 <= len(entry["problems"]) <= 3, name
        assert len(entry["problems"]) == min(3, entry["problem_count"], MAX_LISTED), name
        assert CORPUS[name].stat().st_size < 30 * 1024, name


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_a_malformed_file_is_rejected_with_the_expected_report(sandbox, name):
    expected = EXPECTED[name]  # a KeyError here: add the file to EXPECTED.json
    key = f"incoming/{name}"

    outcome = sandbox.upload(key, CORPUS[name].read_bytes())

    assert outcome["status"] == "rejected", outcome
    assert outcome["report_key"] == expected["report_key"]
    assert outcome["problem_count"] == expected["problem_count"]
    report = sandbox.read_json(expected["report_key"])
    assert report["status"] == "rejected"
    assert report["object_key"] == key
    assert report["what_to_do"].strip()
    assert report["problem_count"] == expected["problem_count"]
    assert report["problems_listed"] <= MAX_LISTED
    assert report["problems_listed"] == len(report["problems"]) == min(report["problem_count"], MAX_LISTED)
    assert sandbox.receive_all() == []

    first = report["problems"][:3]
    assert len(first) == len(expected["problems"]), first
    if expected["folder"] == "malformed":
        assert [[p["line"], p["column"], p["reason"]] for p in first] == expected["problems"]
    else:
        assert [(p["line"], p["column"]) for p in first] == [
            (line, column) for line, column, _ in expected["problems"]]
        for (_, _, reason), problem in zip(expected["problems"], first):
            assert reason in problem["reason"], (reason, problem["reason"])
