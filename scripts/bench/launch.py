"""Starting a bench worker in a fresh process, and reading back the figures it measured.

A fresh process for every run, so that its peak RSS is that run's alone (a
process's peak never comes down). The worker is ``python -m scripts.bench
--worker ...``; it writes its figures as JSON to the file ``--result`` names,
and its output goes to the bench's worker log.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from chalicelib.config import PROJECT_DIR

# The workers, as ``--worker`` names them.
PIPELINE, BASELINE, IN_PROCESS = "pipeline", "baseline", "in-process"
WORKERS = (PIPELINE, BASELINE, IN_PROCESS)


def run_worker_process(arguments: list[str], env: dict[str, str], name: str, log_path: Path) -> dict:
    """Run ``scripts.bench`` with ``arguments`` and ``env``; return what it wrote."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    try:
        with open(log_path, "ab") as log:
            done = subprocess.run([sys.executable, "-m", "scripts.bench", *arguments,
                                   "--result", str(result_path)],
                                  cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise SystemExit(f"{name} failed (exit {done.returncode}); see {log_path}")
        return json.loads(result_path.read_text())
    finally:
        result_path.unlink(missing_ok=True)
