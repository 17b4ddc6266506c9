"""What the function's deployment package holds, laid out for the runner's execution environments.

`chalice deploy` ships ``app.py``, ``chalicelib/``, ``vendor/``'s contents,
Chalice's runtime module (``chalice/__init__.py`` and ``chalice/app.py``) and
what ``requirements.txt`` installs: nothing else is importable in Lambda. The
runner's environments import the function from the same, and from nothing of
the development venv (moto, pytest, hypothesis, awscli), so that an import the
package would lack fails in the sandbox as it fails in Lambda:

- **dependencies**: ``pip install --target`` of ``requirements.txt`` alone,
  with the project's Python, built once per content of ``requirements.txt``
  under ``.venv/function/<hash>/`` and rebuilt when it changes. pip installs
  the wheels of the platform it runs on: a macOS or Windows developer gets the
  same packages and versions as the deployed function, built for their
  machine (the package Chalice builds takes Lambda's Linux wheels instead);
  for pure-Python packages, such as every one this function uses, that is the
  same code.
- **the code**: a task folder of links to the project's ``app.py``,
  ``chalicelib/`` and ``vendor/``'s entries (what Lambda puts in
  ``/var/task``), so that an edit is what the next cold start imports.

An environment runs ``python -I -S``: no site-packages and no environment
variables of Python's on its path; the runner puts the task folder, the
dependencies, and the SDK that Lambda's runtime provides (``runtime_sdk``)
there, in Lambda's order; the standard library is the same Python's.
"""
from __future__ import annotations

import hashlib
import inspect
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger("event_runner")

BUILD_ROOT = Path(sys.prefix) / "function"  # inside the venv: rebuilt with it, never committed
_CODE = ("app.py", "chalicelib")


class PackageBuildError(RuntimeError):
    """The function's dependencies could not be installed from requirements.txt."""


def requirements_hash(project: Path) -> str:
    requirements = project / "requirements.txt"
    content = requirements.read_bytes() if requirements.exists() else b""
    version = f"{sys.version_info.major}.{sys.version_info.minor}".encode()
    return hashlib.sha256(version + b"\n" + content).hexdigest()[:16]


def dependencies(project: Path, root: Path = BUILD_ROOT) -> Path:
    """The folder of the function's dependencies, built from requirements.txt if needed."""
    folder = root / requirements_hash(project)
    if not (folder / ".complete").exists():
        requirements = project / "requirements.txt"
        _install(folder, ["-r", str(requirements)] if requirements.exists() else [],
                 f"the function's dependencies from {requirements} (what its package holds)")
    if not (folder / "chalice").exists():
        _add_chalice_runtime(folder)
    return folder


def runtime_sdk(root: Path = BUILD_ROOT) -> Path:
    """The AWS SDK that Lambda's Python runtime itself provides (after the package on the path).

    A function whose package holds no boto3 still imports Lambda's. Its exact
    version is Lambda's to choose; the sandbox gives the development venv's.
    """
    import boto3
    folder = root / f"runtime-sdk-{boto3.__version__}"
    if not (folder / ".complete").exists():
        _install(folder, [f"boto3=={boto3.__version__}"], "Lambda's runtime SDK (boto3)")
    return folder


def _install(folder: Path, requirements: list[str], what: str) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    logger.info("building %s in %s", what, folder)
    building = Path(tempfile.mkdtemp(prefix="building-", dir=folder.parent))
    try:
        if requirements:
            done = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "--no-warn-script-location", "--target", str(building), *requirements],
                capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise PackageBuildError(f"pip could not install {what} (exit {done.returncode}):\n"
                                        f"{done.stderr.strip()[-2000:]}")
        (building / ".complete").touch()
        try:
            building.replace(folder)
        except OSError:  # another runner built it meanwhile: theirs is as good
            shutil.rmtree(building, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _add_chalice_runtime(folder: Path) -> None:
    """Chalice's runtime module, as `chalice deploy` puts it into every package."""
    import chalice
    import chalice.app
    (folder / "chalice").mkdir(exist_ok=True)
    shutil.copyfile(inspect.getfile(chalice), folder / "chalice" / "__init__.py")
    shutil.copyfile(inspect.getfile(chalice.app), folder / "chalice" / "app.py")


def task_folder(project: Path, under: Path) -> Path:
    """A folder of links to the code the package holds (``/var/task``'s counterpart)."""
    task = under / "task"
    task.mkdir(parents=True, exist_ok=True)
    entries = [project / name for name in _CODE if (project / name).exists()]
    vendor = project / "vendor"
    if vendor.is_dir():
        entries += sorted(vendor.iterdir())
    for entry in entries:
        link = task / entry.name
        if not link.is_symlink():
            os.symlink(entry, link)
    return task


def package_modules(deps: Path) -> set[str]:
    """The top-level modules the package's dependencies hold."""
    names = set()
    for entry in deps.iterdir():
        if entry.name.endswith((".dist-info", ".egg-info")) or entry.name.startswith((".", "_")):
            continue
        names.add(entry.name.split(".")[0] if entry.is_file() else entry.name)
    return names


def main() -> int:
    """Build the function's dependencies now (`make venv` does), so the first start does not wait."""
    from chalicelib.config import PROJECT_DIR
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        folder = dependencies(PROJECT_DIR)
        runtime_sdk()
    except PackageBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"The function's dependencies (requirements.txt only, as its package holds them): {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
